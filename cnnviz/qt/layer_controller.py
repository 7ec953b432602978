"""Wires the layer explorer's panels into the main window and its worker."""

from __future__ import annotations

import difflib
import time
from typing import Any

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QDockWidget, QGraphicsRectItem

from cnnviz.qt.panels.feature_maps import FeatureMapsPanel
from cnnviz.qt.panels.filters_panel import FiltersPanel
from cnnviz.qt.panels.im2col_panel import Im2colPanel
from cnnviz.qt.panels.layer_stats_panel import LayerStatsPanel
from cnnviz.qt.panels.layer_tree import LayerTreePanel
from cnnviz.qt.theme import Theme


class LayerExplorerController(QObject):
    """Adds the chosen layer to every analysis and shows the layer view the window shows.

    Until the first tree arrives (and after a switch to another architecture) the request
    names the core's FIRST_CONV, which resolves to the model's first Conv2d.
    """

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.layer: str | None = None
        self._layer_arch: str | None = None
        self.tree: Any = None
        self.view: Any = None
        self.rf_pending_id = 0
        self.rf_outcome: Any = None
        self.rf_rect: QGraphicsRectItem | None = None
        self.draw_ms = 0.0
        self._worker: Any = None
        self._submitted_image: tuple[Any, str] = (None, "")
        self.tree_panel = LayerTreePanel()
        self.maps = FeatureMapsPanel()
        self.stats = LayerStatsPanel()
        self.filters = FiltersPanel()
        self.matmul = Im2colPanel()
        self.panels = (self.tree_panel, self.maps, self.stats, self.filters, self.matmul)
        self._add_docks()
        self.tree_panel.sigLayerSelected.connect(self.select_layer)
        self.maps.sigSettingsChanged.connect(self._settings_changed)
        self.maps.sigPositionChosen.connect(self.request_receptive_field)
        window.request_contributors.append(self.contribution)
        window.sigResultShown.connect(self._on_result_shown)
        window.sigErrorShown.connect(self._on_error_shown)
        window.themed_widgets.extend(self.panels)
        theme = getattr(window, "theme", None)
        if theme is not None:
            self.apply_theme(theme)

    def _add_docks(self) -> None:
        window = self.window
        # Bottom docks already there (the augmentation lab) share one tab group with ours.
        others = [
            d
            for d in window.findChildren(QDockWidget)
            if window.dockWidgetArea(d) == Qt.BottomDockWidgetArea and not d.isFloating()
        ]
        self.tree_dock = window.add_dock("Layers", self.tree_panel, Qt.LeftDockWidgetArea)
        self.maps_dock = window.add_dock("Feature maps", self.maps, Qt.BottomDockWidgetArea)
        if others:
            window.tabifyDockWidget(others[-1], self.maps_dock)
        self.docks = {"layers": self.tree_dock, "maps": self.maps_dock}
        for key, title, panel in (
            ("stats", "Layer statistics", self.stats),
            ("filters", "Filters", self.filters),
            ("matmul", "Conv as matmul", self.matmul),
        ):
            dock = window.add_dock(title, panel, Qt.BottomDockWidgetArea)
            window.tabifyDockWidget(self.maps_dock, dock)
            self.docks[key] = dock
        if others:
            others[0].raise_()
        else:
            self.maps_dock.raise_()
        # The tree takes the full height on the left; the tabs sit under the images.
        window.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)

    # --- what goes into each analysis request ------------------------------------------
    def contribution(self) -> dict[str, Any]:
        """AnalysisRequest keyword arguments: the selected layer and montage settings."""
        from cnnviz.core.inspect.view import FIRST_CONV
        from cnnviz.core.session import LayerSettings

        # Kept to re-send the image if this request fails for its layer alone.
        self._submitted_image = (self.window.image_source, self.window.image_name)
        same_model = self._layer_arch == self.window.arch
        layer = self.layer if self.layer is not None and same_model else FIRST_CONV
        return {"layer": LayerSettings(layer, self.maps.normalise(), self.maps.order())}

    @Slot(str)
    def select_layer(self, name: str) -> None:
        """Show layer `name` (a module or join name); KeyError naming close ones if unknown."""
        if self.tree is not None and self._layer_arch == self.window.arch:
            names = [node.name for node in self.tree.walk()]
            if name not in names:
                close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
                hint = f"; close names: {', '.join(close)}" if close else ""
                raise KeyError(f"{self.window.arch} has no layer {name!r}{hint}")
            if name in self.tree_panel.items and self.tree_panel.current_layer() != name:
                self.tree_panel.select(name, emit=False)
        self.maps_dock.raise_()
        if name == self.layer and self.view is not None and self.view.layer == name:
            return
        self.layer = name
        self._layer_arch = self.window.arch
        self.window.submit()

    @Slot()
    def _settings_changed(self) -> None:
        self.window.submit()

    # --- results ----------------------------------------------------------------------
    @Slot(object)
    def _on_result_shown(self, result: Any) -> None:
        tree = getattr(result, "layer_tree", None)
        if tree is not None and tree is not self.tree:
            self.tree = tree
            self.tree_panel.set_tree(tree)
        view = getattr(result, "layer_view", None)
        if view is None:
            return
        start = time.perf_counter()
        changed = self.view is None or self.view.layer != view.layer
        if changed or self._layer_arch != result.model.arch:
            self.clear_receptive_field()
        self.view = view
        self.layer = view.layer
        self._layer_arch = result.model.arch
        if view.layer in self.tree_panel.items and self.tree_panel.current_layer() != view.layer:
            self.tree_panel.select(view.layer, emit=False)
        self.maps.show_view(view)
        self.stats.show_stats(view.layer, view.stats, view.maps.shape[0])
        self.filters.show_view(view)
        self.matmul.show_view(view)
        self.draw_ms = (time.perf_counter() - start) * 1000

    @Slot(str)
    def _on_error_shown(self, message: str) -> None:
        # A layer name that this model lacks (from --layer, say): go back to the default.
        if self.layer is None or repr(self.layer) not in message:
            return
        self.layer = None
        window = self.window
        source, name = self._submitted_image
        if source is not None and source != window.image_source:
            # The window fell back to its last good image (none on a first request).
            QTimer.singleShot(0, lambda: window.open_image(source, name))
        else:
            QTimer.singleShot(0, window.submit)

    # --- receptive fields ---------------------------------------------------------------
    @Slot(int, int, int)
    def request_receptive_field(self, channel: int, row: int, col: int) -> None:
        """Ask the worker which model-input pixels feed the shown layer at (channel, row, col)."""
        from cnnviz.core.inspect.view import ReceptiveFieldRequest

        window = self.window
        worker = window.worker
        if worker is None or self.view is None or window.image_source is None:
            return
        if worker is not self._worker:
            worker.sigResult.connect(self._on_worker_result)
            worker.sigFailed.connect(self._on_worker_failed)
            self._worker = worker
        extras: dict[str, Any] = {}
        for contribute in window.request_contributors:
            if contribute != self.contribution:
                extras.update(contribute())
        self.rf_pending_id = window.next_request_id()
        request = ReceptiveFieldRequest(
            self.rf_pending_id,
            window.model_key(),
            window.image_source,
            extras.get("augment"),
            self.view.layer,
            channel,
            row,
            col,
        )
        window.statusBar().showMessage(f"Tracing the receptive field of {self.view.layer}…")
        worker.submit(request)

    @Slot(object)
    def _on_worker_result(self, result: Any) -> None:
        from cnnviz.core.inspect.view import ReceptiveFieldOutcome

        if not isinstance(result, ReceptiveFieldOutcome) or result.request_id != self.rf_pending_id:
            return
        if self.view is None or result.layer != self.view.layer:
            return
        self.rf_outcome = result
        self._draw_receptive_field(result)

    @Slot(int, str)
    def _on_worker_failed(self, request_id: int, message: str) -> None:
        if request_id == self.rf_pending_id:
            self.window.statusBar().showMessage(f"Receptive field: {message}", 8000)

    def _draw_receptive_field(self, outcome: Any) -> None:
        self.clear_receptive_field(keep_outcome=True)
        bar = self.window.statusBar()
        where = f"{outcome.layer}[{outcome.channel}, {outcome.row}, {outcome.col}]"
        if outcome.box is None:
            bar.showMessage(f"No input pixel influences {where}", 8000)
            return
        top, left, bottom, right = outcome.box
        rect = QGraphicsRectItem(QRectF(left, top, right - left + 1, bottom - top + 1))
        pen = QPen(QColor(self.window.theme.accent if self._presenting() else "#ff1744"))
        pen.setCosmetic(True)
        pen.setWidthF(3.0)
        rect.setPen(pen)
        rect.setZValue(10)
        self.window.image_panel.model_input.view.addItem(rect)
        self.rf_rect = rect
        bar.showMessage(
            f"Receptive field of {where}: rows {top}-{bottom}, cols {left}-{right} "
            f"({bottom - top + 1}×{right - left + 1} px of the model input)",
            8000,
        )

    def clear_receptive_field(self, *, keep_outcome: bool = False) -> None:
        """Remove the receptive-field rectangle from the model-input image."""
        if self.rf_rect is not None:
            self.window.image_panel.model_input.view.removeItem(self.rf_rect)
            self.rf_rect = None
        if not keep_outcome:
            self.rf_outcome = None

    def receptive_field_rect(self) -> tuple[float, float, float, float] | None:
        """(x, y, width, height) of the drawn rectangle in model-input pixels, if any."""
        if self.rf_rect is None:
            return None
        r = self.rf_rect.rect()
        return (r.x(), r.y(), r.width(), r.height())

    def _presenting(self) -> bool:
        return getattr(self.window, "presentation", False)

    def apply_theme(self, theme: Theme) -> None:
        """Re-theme every panel of the explorer."""
        for panel in self.panels:
            panel.apply_theme(theme)


def install_layer_explorer(window: Any) -> LayerExplorerController:
    """Add the layer explorer's docks to `window` and hook it into its requests (once)."""
    existing = getattr(window, "layer_explorer", None)
    if existing is not None:
        return existing
    controller = LayerExplorerController(window)
    window.layer_explorer = controller
    return controller

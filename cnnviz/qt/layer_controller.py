"""Wires the layer explorer's panels into the main window and its worker."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from cnnviz.core.inspect.settings import FIRST_CONV
from cnnviz.qt.panels.feature_maps import FeatureMapsPanel
from cnnviz.qt.panels.filters_panel import FiltersPanel
from cnnviz.qt.panels.im2col_panel import Im2colPanel
from cnnviz.qt.panels.layer_stats_panel import LayerStatsPanel
from cnnviz.qt.panels.layer_tree import LayerTreePanel
from cnnviz.qt.theme import Theme
from cnnviz.qt.worker import Failure, Ticket

if TYPE_CHECKING:
    from cnnviz.core.analysis import AnalysisResult
    from cnnviz.core.inspect.settings import LayerSettings
    from cnnviz.core.inspect.tree import LayerTree
    from cnnviz.core.inspect.view import LayerView, ReceptiveFieldOutcome
    from cnnviz.qt.main_window import MainWindow


class LayerExplorerController(QObject):
    """Adds the chosen layer to every analysis and shows the layer view the window shows.

    Until the first tree arrives (and after a switch to another architecture) the request
    names the core's FIRST_CONV, which resolves to the model's first Conv2d.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.layer: str | None = None
        self._layer_arch: str | None = None
        self.tree: LayerTree | None = None
        self.view: LayerView | None = None
        self.rf_ticket: Ticket | None = None
        self.rf_outcome: ReceptiveFieldOutcome | None = None
        self.rf_rect: QGraphicsRectItem | None = None
        self.draw_ms = 0.0
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
        window.layer_settings = self.settings
        window.sigResultShown.connect(self._on_result_shown)
        window.sigAnalysisFailed.connect(self._on_analysis_failed)
        window.themed_widgets.extend(self.panels)
        for dock in self.docks.values():
            dock.visibilityChanged.connect(self._on_visibility)
        theme = getattr(window, "theme", None)
        if theme is not None:
            self.apply_theme(theme)

    def _add_docks(self) -> None:
        window = self.window
        # The montage is the star: it owns the central area of the Layers workspace.
        window.add_workspace("Layers", self.maps, shortcut="Ctrl+2")
        self.tree_dock = window.add_dock(
            "Layers", self.tree_panel, Qt.LeftDockWidgetArea, workspace="Layers"
        )
        self.docks = {"layers": self.tree_dock}
        for key, title, panel in (
            ("stats", "Statistics", self.stats),
            ("filters", "Filters", self.filters),
            ("matmul", "Matmul", self.matmul),
        ):
            dock = window.add_dock(title, panel, Qt.RightDockWidgetArea, workspace="Layers")
            self.docks[key] = dock
        window.sigWorkspaceChanged.connect(lambda _name: self._on_visibility(True))

    # --- what goes into each analysis request ------------------------------------------
    def _part_widgets(self) -> dict[str, QWidget]:
        return {
            "maps": self.maps,
            "stats": self.stats,
            "filters": self.filters,
            "im2col": self.matmul,
        }

    def shown_parts(self) -> frozenset[str]:
        """The explorer's parts on screen now (a dock behind another tab is not)."""
        shown = self.window.is_shown
        return frozenset(part for part, widget in self._part_widgets().items() if shown(widget))

    def settings(self) -> LayerSettings | None:
        """The layer and montage settings for an analysis; None when no panel shows them."""
        parts = self.shown_parts()
        if not parts and not self.window.is_shown(self.tree_panel):
            return None  # work for hidden panels is not done
        from cnnviz.core.inspect.settings import LayerSettings

        same_model = self._layer_arch == self.window.arch
        layer = self.layer if self.layer is not None and same_model else FIRST_CONV
        return LayerSettings(layer, self.maps.normalise(), self.maps.order(), parts)

    @Slot(bool)
    def _on_visibility(self, visible: bool) -> None:
        # A panel came into view that the shown result did not compute: ask again.
        if visible and self._missing_parts():
            self.window.submit()

    def _missing_parts(self) -> bool:
        shown = self.window.shown_result
        view = shown.layer_view if shown is not None else None
        if view is None:
            return shown is not None and bool(self.shown_parts())
        return not self.shown_parts() <= view.parts

    @Slot(str)
    def select_layer(self, name: str) -> None:
        """Show layer `name` (a module or join name); KeyError naming close ones if unknown."""
        if self.tree is not None and self._layer_arch == self.window.arch:
            from cnnviz.core.inspect.text import require_layer

            if name not in self.tree:
                require_layer(name, [node.name for node in self.tree.walk()], self.window.arch)
            if name in self.tree_panel.items and self.tree_panel.current_layer() != name:
                self.tree_panel.select(name, emit=False)
        self.window.show_workspace("Layers")
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
    def _on_result_shown(self, result: AnalysisResult) -> None:
        tree = result.layer_tree
        if tree is not None and tree is not self.tree:
            self.tree = tree
            self.tree_panel.set_tree(tree)
        view = result.layer_view
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
        if view.montage is not None:
            self.maps.show_view(view)
        if view.stats is not None:
            self.stats.show_stats(view.layer, view.stats, view.maps.shape[0])
        if "filters" in view.parts:
            self.filters.show_view(view)
        if "im2col" in view.parts:
            self.matmul.show_view(view)
        self.draw_ms = (time.perf_counter() - start) * 1000

    @Slot(object)
    def _on_analysis_failed(self, failure: Failure) -> None:
        from cnnviz.core.errors import UnknownLayerError

        # A layer this model lacks (from --layer, say): the message is shown; go back to
        # the default layer for the same input.
        if failure.is_a(UnknownLayerError) and self.layer is not None:
            self.layer = None
            QTimer.singleShot(0, self.window.submit)

    # --- receptive fields ---------------------------------------------------------------
    @Slot(int, int, int)
    def request_receptive_field(self, channel: int, row: int, col: int) -> None:
        """Ask the worker which model-input pixels feed the shown layer at (channel, row, col)."""
        from cnnviz.core.inspect.view import ReceptiveFieldRequest

        window = self.window
        worker = window.worker_thread
        shown = window.shown_request
        if worker is None or self.view is None or shown is None or shown.image is None:
            return
        request = ReceptiveFieldRequest(
            shown.model,
            shown.image,
            shown.augment,
            self.view.layer,
            channel,
            row,
            col,
        )
        window.statusBar().showMessage(f"Tracing the receptive field of {self.view.layer}…")
        self.rf_ticket = worker.submit(
            request, self._on_receptive_field, on_failed=self._on_receptive_field_failed
        )

    def _on_receptive_field(self, outcome: ReceptiveFieldOutcome) -> None:
        if self.view is None or outcome.layer != self.view.layer:
            return
        self.rf_outcome = outcome
        self._draw_receptive_field(outcome)

    def _on_receptive_field_failed(self, failure: Failure) -> None:
        self.window.statusBar().showMessage(f"Receptive field: {failure.message}", 8000)

    def _draw_receptive_field(self, outcome: ReceptiveFieldOutcome) -> None:
        self.clear_receptive_field(keep_outcome=True)
        bar = self.window.statusBar()
        where = f"{outcome.layer}[{outcome.channel}, {outcome.row}, {outcome.col}]"
        if outcome.box is None:
            bar.showMessage(f"No input pixel influences {where}", 8000)
            return
        top, left, bottom, right = outcome.box
        rect = QGraphicsRectItem(QRectF(left, top, right - left + 1, bottom - top + 1))
        pen = QPen(QColor(self.window.theme.marker))
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

    def apply_theme(self, theme: Theme) -> None:
        """Re-theme every panel of the explorer."""
        for panel in self.panels:
            panel.apply_theme(theme)


def install_layer_explorer(window: MainWindow) -> LayerExplorerController:
    """Add the layer explorer's docks to `window` and hook it into its requests (once)."""
    existing = getattr(window, "layer_explorer", None)
    if existing is not None:
        return existing
    controller = LayerExplorerController(window)
    window.layer_explorer = controller
    return controller

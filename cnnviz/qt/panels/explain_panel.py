"""The Explain workspace's star view: attribution maps over the model input, live.

The panel collects what to explain (mode, method, class, options) and draws results; the
controller (cnnviz.qt.explain_controller) builds the requests. Opacity, colormap and "on
original photo" only redraw. No torch here: maps arrive as numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QGraphicsRectItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.inspect.colormaps import lookup_table
from cnnviz.qt.panels.image_panel import ImageView
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.engine import ClassScore
    from cnnviz.core.explain.compare import OccluderProbe
    from cnnviz.core.explain.requests import ExplainCell, ExplainView
    from cnnviz.core.explain.sanity import SanityCheck

# The core's method names and titles (cnnviz.core.explain.methods imports torch; a test
# checks that these agree).
METHODS: tuple[tuple[str, str], ...] = (
    ("gradcam", "Grad-CAM"),
    ("gradcam++", "Grad-CAM++"),
    ("saliency", "Gradient saliency"),
    ("smoothgrad", "SmoothGrad"),
    ("ig", "Integrated gradients"),
    ("occlusion", "Occlusion"),
)
GRID_DEFAULT = ("gradcam", "gradcam++", "saliency", "smoothgrad", "ig")
COLORMAPS = ("inferno", "viridis", "magma", "grey")
MODES = ("single", "grid", "contrast", "occluder", "sanity")
MODE_TITLES = ("Explain", "Methods grid", "Two classes", "Occluder probe", "Sanity check")


def blend(
    rgb: np.ndarray, heat: np.ndarray, colormap: str, opacity: float, *, diverging: bool
) -> np.ndarray:
    """`rgb` (H, W, 3) uint8 with `heat` (same H, W; 0..1, or -1..1 when `diverging`) coloured
    on top at `opacity`; NaN pixels leave the image as it is."""
    table = lookup_table("diverging" if diverging else colormap).astype(np.float32)
    scaled = (heat + 1.0) / 2.0 if diverging else heat
    valid = np.isfinite(scaled)
    index = np.round(np.clip(np.where(valid, scaled, 0.0), 0.0, 1.0) * (len(table) - 1))
    colours = table[index.astype(np.intp)]
    alpha = np.where(valid, opacity, 0.0).astype(np.float32)[..., None]
    out = rgb.astype(np.float32) * (1.0 - alpha) + colours * alpha
    return np.round(out).astype(np.uint8)


class OverlayView(ImageView):
    """A map drawn over a picture; keeps the map (`heat`) and the picture (`base`)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.heat: np.ndarray | None = None
        self.base: np.ndarray | None = None
        self.diverging = False
        self.setMinimumSize(140, 140)

    def show_overlay(
        self,
        base: np.ndarray,
        heat: np.ndarray,
        *,
        title: str,
        caption: str,
        colormap: str,
        opacity: float,
        diverging: bool = False,
    ) -> None:
        self.base, self.heat, self.diverging = base, heat, diverging
        self._title = title
        self.set_image(blend(base, heat, colormap, opacity, diverging=diverging), caption)


class OccluderView(ImageView):
    """The model input with a grey square to drag; reports the square's position."""

    sigMoved = Signal(int, int, int)  # top, left, size in model-input pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Drag the grey square over the picture", parent)
        self.size_px = 48
        self.roi = pg.ROI(
            (88, 88),
            (self.size_px, self.size_px),
            movable=True,
            rotatable=False,
            resizable=False,
            translateSnap=True,
            pen=pg.mkPen("#ffd400", width=2),
        )
        self.roi.setZValue(10)
        self.patch = QGraphicsRectItem(0, 0, 1, 1, self.roi)
        self.patch.setBrush(QBrush(QColor(128, 128, 128, 200)))
        self.patch.setPen(QPen(Qt.NoPen))
        self.view.addItem(self.roi)
        self.roi.sigRegionChanged.connect(self._moved)
        self._bounds: tuple[int, int] = (224, 224)
        self._set_patch_size(self.size_px)

    def set_input(self, picture: np.ndarray, caption: str = "") -> None:
        """The picture under the square (the square keeps its place)."""
        first = self.image is None
        self.set_image(picture, caption)
        rows, cols = picture.shape[:2]
        self._bounds = (rows, cols)
        self.roi.maxBounds = QRectF(0, 0, cols, rows)
        if first:
            self.place((rows - self.size_px) // 2, (cols - self.size_px) // 2, emit=False)

    def set_patch_size(self, size: int) -> None:
        self._set_patch_size(size)
        self._moved()

    def _set_patch_size(self, size: int) -> None:
        self.size_px = size
        self.roi.setSize((size, size), update=False, finish=False)
        self.patch.setRect(0, 0, size, size)

    def place(self, top: int, left: int, *, emit: bool = True) -> None:
        """Put the square at (top, left) (clamped to the picture)."""
        rows, cols = self._bounds
        top = int(min(max(top, 0), max(rows - self.size_px, 0)))
        left = int(min(max(left, 0), max(cols - self.size_px, 0)))
        self.roi.setPos((left, top), update=emit, finish=emit)

    def position(self) -> tuple[int, int, int]:
        """(top, left, size) of the square in model-input pixels."""
        pos = self.roi.pos()
        return int(round(pos.y())), int(round(pos.x())), self.size_px

    def centre_scene_pos(self) -> QPointF:
        """Where the square's centre is in scene coordinates (for tests)."""
        top, left, size = self.position()
        return self.image_item.mapToScene(QPointF(left + size / 2, top + size / 2))

    def _moved(self, *_args: object) -> None:
        self.sigMoved.emit(*self.position())


class ExplainPanel(QWidget):
    """Modes in tabs; a class picker (top-5 list, any class by name); display settings."""

    sigChanged = Signal()  # something that needs new maps (mode, method, class, options)
    sigProbe = Signal(int, int, int)  # the occluder moved: top, left, size
    sigSanity = Signal()
    sigCancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = NORMAL
        self.target: int | str | None = None  # None: the top-1
        self.categories: tuple[str, ...] = ()
        self.view: ExplainView | None = None
        self.probe: OccluderProbe | None = None
        self.sanity: SanityCheck | None = None
        self.base_top: tuple[ClassScore, ...] = ()
        self.grid_views: list[OverlayView] = []
        self.sanity_views: list[OverlayView] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_controls())
        layout.addLayout(self._build_options())
        body = QHBoxLayout()
        body.addWidget(self._build_classes(), 0)
        self.tabs = QTabWidget()
        for build, title in zip(
            (
                self._build_single,
                self._build_grid,
                self._build_contrast,
                self._build_occluder,
                self._build_sanity,
            ),
            MODE_TITLES,
            strict=True,
        ):
            self.tabs.addTab(build(), title)
        self.tabs.currentChanged.connect(lambda _i: self.sigChanged.emit())
        body.addWidget(self.tabs, 1)
        layout.addLayout(body, 1)
        status = QHBoxLayout()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.sigCancel)
        self.cancel_button.setEnabled(False)
        status.addWidget(self.status, 1)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)
        layout.addLayout(status)

    # --- building ---------------------------------------------------------------------
    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.method_combo = QComboBox()
        for name, title in METHODS:
            self.method_combo.addItem(title, name)
        self.method_combo.currentIndexChanged.connect(lambda _i: self.sigChanged.emit())
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setMinimumWidth(90)
        self.opacity.valueChanged.connect(lambda _v: self.redraw())
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.colormap_combo.currentIndexChanged.connect(lambda _i: self.redraw())
        self.on_photo = QCheckBox("On original photo")
        self.on_photo.toggled.connect(lambda _on: self.redraw())
        for label, widget in (
            ("Method", self.method_combo),
            ("Opacity", self.opacity),
            ("Colours", self.colormap_combo),
        ):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addWidget(self.on_photo)
        row.addStretch(1)
        return row

    def _spin(self, low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(lambda _v: self.sigChanged.emit())
        return spin

    def _build_options(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.steps_spin = self._spin(2, 256, 32, "Integrated gradients: path steps")
        self.samples_spin = self._spin(1, 128, 16, "SmoothGrad: noisy copies")
        self.patch_spin = self._spin(4, 224, 32, "Occlusion: patch side in model-input pixels")
        self.stride_spin = self._spin(2, 224, 16, "Occlusion: step between patches")
        self.baseline_combo = QComboBox()
        self.baseline_combo.addItems(("black", "blurred"))
        self.baseline_combo.setToolTip("Integrated gradients: the baseline image")
        self.baseline_combo.currentIndexChanged.connect(lambda _i: self.sigChanged.emit())
        for label, widget in (
            ("IG steps", self.steps_spin),
            ("baseline", self.baseline_combo),
            ("SmoothGrad samples", self.samples_spin),
            ("Occlusion patch", self.patch_spin),
            ("stride", self.stride_spin),
        ):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def _build_classes(self) -> QWidget:
        box = QWidget()
        box.setMaximumWidth(300)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("<b>Top-5</b> (click to explain)"))
        self.top_list = QListWidget()
        self.top_list.itemClicked.connect(self._on_top_clicked)
        column.addWidget(self.top_list, 1)
        column.addWidget(QLabel("Any class (type part of its name)"))
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("e.g. tiger cat")
        self.completer = QCompleter([], self)
        self.completer.setCaseSensitivity(Qt.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchContains)
        self.class_edit.setCompleter(self.completer)
        self.completer.activated[str].connect(self._on_class_typed)
        self.class_edit.returnPressed.connect(lambda: self._on_class_typed(self.class_edit.text()))
        column.addWidget(self.class_edit)
        self.explained = QLabel("")
        self.explained.setWordWrap(True)
        column.addWidget(self.explained)
        return box

    def _build_single(self) -> QWidget:
        self.single = OverlayView("Explanation")
        return self.single

    def _build_grid(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Methods:"))
        self.grid_checks: dict[str, QCheckBox] = {}
        for name, title in METHODS:
            check = QCheckBox(title)
            check.setChecked(name in GRID_DEFAULT)
            check.toggled.connect(lambda _on: self.sigChanged.emit())
            self.grid_checks[name] = check
            row.addWidget(check)
        row.addStretch(1)
        column.addLayout(row)
        self.grid_host = QWidget()
        self.grid_layout = QGridLayout(self.grid_host)
        self.grid_layout.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.grid_host, 1)
        return page

    def _build_contrast(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class A: the explained class; versus class B:"))
        self.versus_edit = QLineEdit()
        self.versus_edit.setPlaceholderText("the next of the top-5")
        self.versus_completer = QCompleter([], self)
        self.versus_completer.setCaseSensitivity(Qt.CaseInsensitive)
        self.versus_completer.setFilterMode(Qt.MatchContains)
        self.versus_edit.setCompleter(self.versus_completer)
        self.versus_completer.activated[str].connect(lambda _t: self.sigChanged.emit())
        self.versus_edit.returnPressed.connect(self.sigChanged)
        row.addWidget(self.versus_edit, 1)
        column.addLayout(row)
        views = QHBoxLayout()
        self.contrast_views = [OverlayView(t) for t in ("Class A", "Class B", "A − B")]
        for view in self.contrast_views:
            views.addWidget(view, 1)
        column.addLayout(views, 1)
        return page

    def _build_occluder(self) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 0, 0, 0)
        self.occluder = OccluderView()
        self.occluder.sigMoved.connect(self.sigProbe)
        row.addWidget(self.occluder, 3)
        side = QVBoxLayout()
        side.addWidget(QLabel("Square side (pixels)"))
        self.occluder_size = QSpinBox()
        self.occluder_size.setRange(8, 160)
        self.occluder_size.setValue(self.occluder.size_px)
        self.occluder_size.valueChanged.connect(self.occluder.set_patch_size)
        side.addWidget(self.occluder_size)
        side.addWidget(QLabel("<b>Top-5 with the square</b>"))
        self.probe_list = QListWidget()
        side.addWidget(self.probe_list, 1)
        row.addLayout(side, 2)
        return page

    def _build_sanity(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.sanity_button = QPushButton("Run sanity check")
        self.sanity_button.setToolTip(
            "Re-initialise the top blocks one after another (Adebayo et al. 2018) and compare "
            "each map with the trained model's by rank correlation"
        )
        self.sanity_button.clicked.connect(self.sigSanity)
        self.sanity_blocks = QSpinBox()
        self.sanity_blocks.setRange(1, 40)
        self.sanity_blocks.setValue(6)
        row.addWidget(self.sanity_button)
        row.addWidget(QLabel("blocks to randomise"))
        row.addWidget(self.sanity_blocks)
        row.addStretch(1)
        column.addLayout(row)
        self.sanity_note = QLabel(
            "A method whose maps stay alike (ρ near 1) after the weights are randomised "
            "does not show what the model learned."
        )
        self.sanity_note.setWordWrap(True)
        column.addWidget(self.sanity_note)
        self.sanity_host = QWidget()
        self.sanity_layout = QGridLayout(self.sanity_host)
        self.sanity_layout.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.sanity_host, 1)
        return page

    # --- what to compute ------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return MODES[self.tabs.currentIndex()]

    def set_mode(self, mode: str) -> None:
        self.tabs.setCurrentIndex(MODES.index(mode))

    @property
    def method(self) -> str:
        return str(self.method_combo.currentData())

    def set_method(self, name: str) -> None:
        self.method_combo.setCurrentIndex(self.method_combo.findData(name))

    def methods(self) -> tuple[str, ...]:
        """The methods the current mode shows."""
        if self.mode == "grid":
            return tuple(n for n, _t in METHODS if self.grid_checks[n].isChecked())
        return (self.method,)

    def versus(self) -> str | None:
        """Class B as typed (None: the next class of the top-5)."""
        text = self.versus_edit.text().strip()
        return text or None

    def options(self) -> dict[str, int | str]:
        """The option values, by ExplainOptions field name."""
        return {
            "steps": self.steps_spin.value(),
            "baseline": self.baseline_combo.currentText(),
            "samples": self.samples_spin.value(),
            "patch": self.patch_spin.value(),
            "stride": self.stride_spin.value(),
        }

    def set_target(self, target: int | str | None, *, emit: bool = True) -> None:
        """Explain this class (an index, a name or part of one; None: the top-1)."""
        self.target = target
        if emit:
            self.sigChanged.emit()

    def _on_top_clicked(self, item: QListWidgetItem) -> None:
        self.set_target(int(item.data(Qt.UserRole)))

    def _on_class_typed(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        exact = [i for i, c in enumerate(self.categories) if c.casefold() == text.casefold()]
        self.set_target(exact[0] if len(exact) == 1 else text)

    def set_categories(self, categories: Sequence[str]) -> None:
        if tuple(categories) != self.categories:
            self.categories = tuple(categories)
            for completer in (self.completer, self.versus_completer):
                completer.model().setStringList(list(self.categories))

    # --- results ----------------------------------------------------------------------------
    def show_view(self, view: ExplainView) -> None:
        """Draw an explanation (single, grid or contrast) and its top-5."""
        self.view = view
        self.set_categories(view.categories)
        self._fill_top(view.top, view.class_index)
        first = view.explanations[0]
        text = f"Explaining <b>{first.class_label}</b> ({first.probability:.1%})"
        if view.contrast is not None:
            text += f" versus <b>{view.explanations[1].class_label}</b>"
        self.explained.setText(text)
        self.status.setText(
            f"{len(view.cells)} map(s) in {view.elapsed_ms:.0f} ms"
            + (" — cancelled, partial" if view.cancelled else "")
        )
        self.redraw()

    def _fill_top(self, top: Sequence[ClassScore], chosen: int) -> None:
        self.top_list.clear()
        for c in top:
            item = QListWidgetItem(f"{c.rank}. {c.label}   {c.probability:.1%}")
            item.setData(Qt.UserRole, c.index)
            self.top_list.addItem(item)
            if c.index == chosen:
                item.setSelected(True)

    def redraw(self) -> None:
        """Redraw the maps with the current opacity, colormap and picture."""
        view = self.view
        if view is None:
            return
        if view.contrast is not None:
            targets = self.contrast_views
        elif len(view.cells) > 1 or self.mode == "grid":
            targets = self._grid_views(len(view.cells))
        else:
            targets = [self.single]
        for target, cell in zip(targets, view.cells, strict=False):
            self._draw(target, cell)

    def _draw(self, target: OverlayView, cell: ExplainCell) -> None:
        view = self.view
        assert view is not None
        photo = self.on_photo.isChecked()
        target.show_overlay(
            view.photo if photo else view.model_input,
            cell.photo_heat if photo else cell.heat,
            title=cell.title,
            caption=cell.caption,
            colormap=self.colormap_combo.currentText(),
            opacity=self.opacity.value() / 100,
            diverging=cell.diverging,
        )

    def _grid_views(self, count: int) -> list[OverlayView]:
        if len(self.grid_views) != count:
            for old in self.grid_views:
                self.grid_layout.removeWidget(old)
                old.deleteLater()
            columns = 3 if count > 4 else 2 if count > 1 else 1
            self.grid_views = [OverlayView("") for _ in range(count)]
            for i, view in enumerate(self.grid_views):
                view.apply_theme(self._theme)
                self.grid_layout.addWidget(view, i // columns, i % columns)
        return self.grid_views

    def show_input(self, model_input: np.ndarray, top: Sequence[ClassScore]) -> None:
        """The analysed model input and its top-5 (before any explanation arrives)."""
        self.base_top = tuple(top)
        self.occluder.set_input(model_input, "the model input, as analysed")
        if self.view is None:
            self._fill_top(top, top[0].index if top else -1)

    def show_probe(self, probe: OccluderProbe) -> None:
        self.probe = probe
        self.occluder.set_input(probe.model_input, "the model input with the square")
        before = {c.index: c.probability for c in self.base_top}
        self.probe_list.clear()
        for c in probe.top:
            change = ""
            if c.index in before:
                change = f"  ({(c.probability - before[c.index]) * 100:+.1f} pp)"
            self.probe_list.addItem(f"{c.rank}. {c.label}   {c.probability:.1%}{change}")

    def show_sanity(self, check: SanityCheck) -> None:
        """The trained map beside the maps after each randomisation step, with ρ."""
        self.sanity = check
        for old in self.sanity_views:
            self.sanity_layout.removeWidget(old)
            old.deleteLater()
        self.sanity_views = []
        columns = 4 if len(check.steps) > 6 else 3 if len(check.steps) > 2 else len(check.steps)
        grey = np.zeros((*check.steps[0].map.shape, 3), dtype=np.uint8)
        for i, step in enumerate(check.steps):
            view = OverlayView("")
            view.apply_theme(self._theme)
            heat = step.map.astype(np.float32)
            span = float(np.nanmax(heat) - np.nanmin(heat)) if heat.size else 0.0
            heat = (heat - np.nanmin(heat)) / span if span > 0 else np.zeros_like(heat)
            rho = "trained model" if i == 0 else f"ρ = {step.rho:.2f}"
            title = "Trained" if i == 0 else f"random to {step.block}"
            view.show_overlay(
                grey,
                heat,
                title=title,
                caption=rho,
                colormap=self.colormap_combo.currentText(),
                opacity=1.0,
            )
            self.sanity_layout.addWidget(view, i // columns, i % columns)
            self.sanity_views.append(view)
        note = " (cancelled)" if check.cancelled else ""
        self.sanity_note.setText(
            f"{check.method} for {check.class_label}: rank correlation ρ with the trained "
            f"map after randomising from the top{note}. Near 1: the map ignores the weights."
        )

    def show_error(self, message: str) -> None:
        self.status.setText(f"⚠ {message}")

    # --- long jobs -------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        views: list[ImageView] = [self.single, self.occluder, *self.contrast_views]
        for view in [*views, *self.grid_views, *self.sanity_views]:
            view.apply_theme(theme)

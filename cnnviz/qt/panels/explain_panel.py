"""The Explain workspace's star view: attribution maps over the model input, live.

The panel collects what to explain (mode, method, class, options) and draws results; the
controller (cnnviz.qt.explain_controller) builds the requests. Opacity, colormap and "on
original photo" only redraw. No torch here: maps arrive as numpy arrays.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QFrame,
    QGraphicsRectItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
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
SHORT_TITLES = {
    "gradcam": "CAM",
    "gradcam++": "CAM++",
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "ig": "IG",
    "occlusion": "Occlusion",
}
GRID_DEFAULT = ("gradcam", "gradcam++", "saliency", "smoothgrad", "ig")
COLORMAPS = ("inferno", "viridis", "magma", "grey")
MODES = ("single", "grid", "contrast", "occluder", "sanity")
MODE_TITLES = ("Explain", "Grid", "Two classes", "Occluder", "Sanity check")


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
    # A difference fades out where the classes agree (0), so the photo stays readable.
    strength = np.clip(np.abs(np.where(valid, heat, 0.0)), 0.0, 1.0) if diverging else 1.0
    alpha = (np.where(valid, opacity, 0.0) * strength).astype(np.float32)[..., None]
    out = rgb.astype(np.float32) * (1.0 - alpha) + colours * alpha
    return np.round(out).astype(np.uint8)


def best_columns(count: int, width: int, height: int, label_px: int) -> int:
    """How many columns give `count` square pictures (under a `label_px` title) the most
    room in a `width` x `height` area."""
    best, best_side = 1, -1.0
    if count < 1:
        return 1
    for columns in range(1, max(count, 1) + 1):
        rows = -(-count // columns)
        side = min(width / columns, height / rows - label_px)
        if side > best_side:
            best, best_side = columns, side
    return best


class Tiles(QWidget):
    """Pictures in a grid whose column count follows the space it gets."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.views: list[ImageView] = []
        self.label_px = 44
        self._columns = 0

    def set_views(self, views: Sequence[ImageView]) -> None:
        for old in self.views:
            self.grid.removeWidget(old)
            old.deleteLater()
        self.views = list(views)
        self._columns = 0
        self._arrange()

    def _arrange(self) -> None:
        columns = best_columns(len(self.views), self.width(), self.height(), self.label_px)
        if columns == self._columns:
            return
        self._columns = columns
        for view in self.views:
            self.grid.removeWidget(view)
        for i, view in enumerate(self.views):
            self.grid.addWidget(view, i // columns, i % columns)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        # Not inside the resize: moving widgets in a layout being applied crashes Qt.
        QTimer.singleShot(0, self._arrange)


class OverlayView(ImageView):
    """A map drawn over a picture; keeps the map (`heat`) and the picture (`base`)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.heat: np.ndarray | None = None
        self.base: np.ndarray | None = None
        self.diverging = False
        self.setMinimumSize(100, 100)

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
        QTimer.singleShot(0, self._refit)

    def _draw_label(self) -> None:
        """Title and caption elided to the view's width: a label wider than the view would
        push the picture out of sight (pyqtgraph makes the label's width a minimum)."""
        size = 11 * min(self._theme.font_scale, 1.4)
        room = max(self.width() - 28, 40)
        item = self.label.item
        fits = int(room - 2 * item.document().documentMargin() - 4)
        bold, small = QFont(item.font()), QFont(item.font())
        bold.setPointSizeF(round(size))
        bold.setBold(True)
        small.setPointSizeF(round(size * 0.85))
        title = QFontMetrics(bold).elidedText(self._title, Qt.ElideRight, fits)
        text = f"<b>{html.escape(title)}</b>"
        if self.caption:
            caption = QFontMetrics(small).elidedText(self.caption, Qt.ElideMiddle, fits)
            text += f"<br><span style='font-size:{size * 0.85:.0f}pt'>{html.escape(caption)}</span>"
        self.label.setText(text, size=f"{size:.0f}pt", color=self._theme.foreground)
        self.setToolTip(f"{self._title}\n{self.caption}".strip())
        item.setTextWidth(room)  # wrap what elision missed, never widen
        self.label.updateMin()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # The label first: the view then lays out its picture under a label that fits.
        if getattr(self, "heat", None) is not None:
            self._draw_label()
        super().resizeEvent(event)
        QTimer.singleShot(0, self._refit)  # the whole picture at the new size

    def _refit(self) -> None:
        # The layout may have kept an older, wider label's minimum when the view shrank.
        self.label.updateGeometry()
        self.ci.layout.invalidate()
        self.ci.setGeometry(QRectF(self.rect()))
        self.view.autoRange(padding=0.01)


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


def _wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_controls())
        body = QHBoxLayout()
        self.side = self._build_side()
        # Scrolls when a projector's large fonts make the column taller than the window.
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(self.side)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        body.addWidget(self.side_scroll, 0)
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
        self.apply_theme(NORMAL)

    @property
    def grid_views(self) -> list[OverlayView]:
        return self.grid_tiles.views  # type: ignore[return-value]

    @property
    def sanity_views(self) -> list[OverlayView]:
        return self.sanity_tiles.views  # type: ignore[return-value]

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
        self.on_photo.setToolTip("Draw the map on the photo, through the resize and crop")
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
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.sigCancel)
        self.cancel_button.hide()
        row.addWidget(self.progress)
        row.addWidget(self.cancel_button)
        return row

    def _spin(self, low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(lambda _v: self.sigChanged.emit())
        return spin

    def _build_options(self) -> QFormLayout:
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.steps_spin = self._spin(
            2,
            256,
            32,
            "Integrated gradients: the least number of gradient evaluations; up to 4× as many "
            "are added where the path needs them, until the attributions sum to the score "
            "change within 0.5 %",
        )
        self.samples_spin = self._spin(1, 128, 16, "SmoothGrad: noisy copies")
        self.patch_spin = self._spin(4, 224, 32, "Occlusion: patch side in model-input pixels")
        self.stride_spin = self._spin(2, 224, 16, "Occlusion: step between patches")
        self.baseline_combo = QComboBox()
        self.baseline_combo.addItems(("black", "blurred"))
        self.baseline_combo.setToolTip("Integrated gradients: the baseline image")
        self.baseline_combo.currentIndexChanged.connect(lambda _i: self.sigChanged.emit())
        # The CAM methods' layer: any conv or block with a spatial output (see set_layers).
        self.layer_combo = QComboBox()
        self.layer_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(10)
        self.layer_combo.setToolTip("Grad-CAM and Grad-CAM++: the layer whose maps are weighed")
        self.layer_combo.addItem("last conv block", None)
        self.layer_combo.currentIndexChanged.connect(lambda _i: self.sigChanged.emit())
        for label, widget in (
            ("CAM layer", self.layer_combo),
            ("IG steps", self.steps_spin),
            ("IG baseline", self.baseline_combo),
            ("SmoothGrad samples", self.samples_spin),
            ("Occlusion patch", self.patch_spin),
            ("Occlusion stride", self.stride_spin),
        ):
            form.addRow(label, widget)
        return form

    def _build_side(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(_wrapped("<b>Top-5</b> (click to explain)"))
        self.top_list = QListWidget()
        self.top_list.itemClicked.connect(self._on_top_clicked)
        column.addWidget(self.top_list)
        column.addWidget(_wrapped("Any class (type part of its name)"))
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("e.g. tiger cat")
        self.completer = QCompleter([], self)
        self.completer.setCaseSensitivity(Qt.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchContains)
        self.class_edit.setCompleter(self.completer)
        self.completer.activated[str].connect(self._on_class_typed)
        self.class_edit.returnPressed.connect(lambda: self._on_class_typed(self.class_edit.text()))
        column.addWidget(self.class_edit)
        self.explained = _wrapped("")
        column.addWidget(self.explained)
        column.addSpacing(8)
        column.addLayout(self._build_options())
        column.addStretch(1)
        self.status = _wrapped("")
        column.addWidget(self.status)
        return box

    def _build_single(self) -> QWidget:
        self.single = OverlayView("Explanation")
        return self.single

    def _build_grid(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        # Two rows of three: in one row, the six at presentation size made the window
        # wider than a 1024-pixel projector.
        checks = QGridLayout()
        self.grid_checks: dict[str, QCheckBox] = {}
        for i, (name, title) in enumerate(METHODS):
            check = QCheckBox(SHORT_TITLES[name])
            check.setToolTip(title)
            check.setChecked(name in GRID_DEFAULT)
            check.toggled.connect(lambda _on: self.sigChanged.emit())
            self.grid_checks[name] = check
            checks.addWidget(check, i // 3, i % 3)
        checks.setColumnStretch(3, 1)
        column.addLayout(checks)
        self.grid_tiles = Tiles()
        column.addWidget(self.grid_tiles, 1)
        return page

    def _build_contrast(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("A: the explained class; B:"))
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
        self.contrast_tiles = Tiles()
        self.contrast_tiles.set_views([OverlayView(t) for t in ("Class A", "Class B", "A − B")])
        self.contrast_views: list[OverlayView] = self.contrast_tiles.views  # type: ignore[assignment]
        column.addWidget(self.contrast_tiles, 1)
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
        side.addWidget(_wrapped("<b>Top-5 with the square</b> (change from without)"))
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
        self.sanity_note = _wrapped(
            "ρ: rank correlation with the trained map. Near 1 after randomising: the method "
            "ignores what the model learned."
        )
        column.addWidget(self.sanity_note)
        self.sanity_tiles = Tiles()
        column.addWidget(self.sanity_tiles, 1)
        return page

    # --- what to compute ------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return MODES[self.tabs.currentIndex()]

    def set_mode(self, mode: str) -> None:
        self.tabs.setCurrentIndex(MODES.index(mode))

    def set_layers(self, names: Sequence[str], default: str) -> None:
        """The layers a CAM can be taken at; the first entry (the default) names `default`."""
        keep = self.cam_layer()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItem(f"last conv block ({default})", None)
        for name in names:
            self.layer_combo.addItem(name, name)
        index = self.layer_combo.findData(keep) if keep in names else 0
        self.layer_combo.setCurrentIndex(max(index, 0))
        self.layer_combo.blockSignals(False)

    def cam_layer(self) -> str | None:
        """The chosen CAM layer; None for the model's last conv block."""
        data = self.layer_combo.currentData()
        return None if data is None else str(data)

    def set_cam_layer(self, name: str | None) -> None:
        index = self.layer_combo.findData(name) if name is not None else 0
        if index < 0:
            raise KeyError(name)
        self.layer_combo.setCurrentIndex(index)

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
        status = f"{len(view.cells)} map(s) in {view.elapsed_ms:.0f} ms"
        if view.cancelled:
            status += " — cancelled, partial"
        ig = next((e for e in view.explanations if e.completeness_error is not None), None)
        if ig is not None and ig.completeness_error is not None:
            status += (
                f"\nIntegrated gradients: attributions sum to the score change within "
                f"{ig.completeness_error:.1%} ({ig.ig_evaluations} gradient evaluations)"
            )
        self.status.setText(status)
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
            self.grid_tiles.set_views([self._themed(OverlayView("")) for _ in range(count)])
        return self.grid_views

    def _themed(self, view: OverlayView) -> OverlayView:
        view.apply_theme(self._theme)
        return view

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
        views = []
        grey = np.zeros((*check.steps[0].map.shape, 3), dtype=np.uint8)
        for i, step in enumerate(check.steps):
            view = self._themed(OverlayView(""))
            heat = step.map.astype(np.float32)
            span = float(np.nanmax(heat) - np.nanmin(heat)) if heat.size else 0.0
            heat = (heat - np.nanmin(heat)) / span if span > 0 else np.zeros_like(heat)
            rho = "the reference" if i == 0 else f"ρ = {step.rho:.2f}"
            title = "Trained" if i == 0 else step.block
            view.show_overlay(
                grey,
                heat,
                title=title,
                caption=rho,
                colormap=self.colormap_combo.currentText(),
                opacity=1.0,
            )
            views.append(view)
        self.sanity_tiles.set_views(views)
        note = " Cancelled: the steps done so far." if check.cancelled else ""
        self.sanity_note.setText(
            f"{check.method} for {check.class_label}. Each map after re-initialising the "
            "weights from the output down to the block named; ρ: rank correlation with the "
            f"trained map (near 1: the map ignores what was learned).{note}"
        )

    def show_error(self, message: str) -> None:
        self.status.setText(f"⚠ {message}")

    # --- long jobs -------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        scale = max(1.0, theme.font_scale)
        width = int(230 * (1 + (scale - 1) * 0.8))
        self.side.setFixedWidth(width)
        bar = self.side_scroll.verticalScrollBar().sizeHint().width()
        self.side_scroll.setFixedWidth(width + bar)
        rows = self.top_list.fontMetrics().height() + 4
        self.top_list.setFixedHeight(5 * rows + 2 * self.top_list.frameWidth() + 6)
        label_px = int(44 * min(scale, 1.4))
        for tiles in (self.grid_tiles, self.contrast_tiles, self.sanity_tiles):
            tiles.label_px = label_px
        views: list[ImageView] = [self.single, self.occluder, *self.contrast_views]
        for view in [*views, *self.grid_views, *self.sanity_views]:
            view.apply_theme(theme)

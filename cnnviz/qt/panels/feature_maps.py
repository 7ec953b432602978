"""All channels of the selected layer as one montage, and one channel large."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.panels.adaptive import orient
from cnnviz.qt.panels.flow import FlowLayout, labelled
from cnnviz.qt.panels.map_view import MapView, ask_save_path
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.inspect.view import LayerView


NORMALISE_CHOICES = (("per channel", "channel"), ("shared", "shared"))
ORDER_CHOICES = (("by index", "index"), ("by mean", "mean"), ("by max", "max"))


def _combo(choices: tuple[tuple[str, str], ...]) -> QComboBox:
    combo = QComboBox()
    for text, value in choices:
        combo.addItem(text, value)
    return combo


class FeatureMapsPanel(QWidget):
    """Montage of every channel; a click opens a channel large and picks a position in it.

    sigSettingsChanged: normalisation or order changed (the montage is rebuilt by the core).
    sigPositionChosen(channel, row, col): a feature-map position whose receptive field the
    user wants to see.
    """

    sigSettingsChanged = Signal()
    sigPositionChosen = Signal(int, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer_view: LayerView | None = None
        self.channel: int | None = None
        self.position: tuple[int, int] | None = None
        self._theme = NORMAL
        self._build()

    def _build(self) -> None:
        from cnnviz.core.inspect.colormaps import MONTAGE_COLORMAPS

        self.colormap_box = QComboBox()
        self.colormap_box.addItems(list(MONTAGE_COLORMAPS))
        self.colormap_box.currentTextChanged.connect(self.set_colormap)
        self.normalise_box = _combo(NORMALISE_CHOICES)
        self.order_box = _combo(ORDER_CHOICES)
        for box in (self.normalise_box, self.order_box):
            box.currentIndexChanged.connect(lambda _i: self.sigSettingsChanged.emit())
        self.png_button = QPushButton("Save PNG…")
        self.png_button.setToolTip("Save the montage as a PNG in the chosen colormap")
        self.png_button.clicked.connect(lambda: self.export_png())
        self.npy_button = QPushButton("Save .npy…")
        self.npy_button.setToolTip("Save the layer's raw activations as a NumPy array")
        self.npy_button.clicked.connect(lambda: self.export_npy())
        controls = FlowLayout()
        for label, widget in (
            ("Colormap", self.colormap_box),
            ("Scale", self.normalise_box),
            ("Order", self.order_box),
        ):
            controls.addWidget(labelled(label, widget))
        controls.addWidget(self.png_button)
        controls.addWidget(self.npy_button)

        self.montage_view = MapView("Feature maps")
        self.montage_view.sigPixelClicked.connect(self.click_montage_at)
        self.montage_view.sigPixelHovered.connect(self._hover_montage)
        self.channel_view = MapView("Channel")
        self.channel_view.sigPixelClicked.connect(self.click_channel_at)
        self.channel_view.sigPixelHovered.connect(self.hover_channel_at)
        self.readout = QLabel("Click a channel to open it; click in it for its receptive field.")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.readout.setWordWrap(True)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.montage_view)
        self.splitter.addWidget(self.channel_view)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.readout)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.png_button, self.npy_button):
            widget.setEnabled(on)

    # --- settings -------------------------------------------------------------------
    def normalise(self) -> str:
        """ "channel" or "shared", as chosen."""
        return self.normalise_box.currentData()

    def order(self) -> str:
        """ "index", "mean" or "max", as chosen."""
        return self.order_box.currentData()

    def colormap(self) -> str:
        """The chosen colormap name."""
        return self.colormap_box.currentText()

    def set_colormap(self, name: str) -> None:
        """Recolour both views (no new computation)."""
        if self.colormap_box.currentText() != name:
            self.colormap_box.setCurrentText(name)
            return
        self.montage_view.set_colormap(name)
        self.channel_view.set_colormap(name)

    # --- display --------------------------------------------------------------------
    def show_view(self, view: LayerView) -> None:
        """Draw the montage of `view`; an open channel stays open if the layer is the same."""
        same_layer = self.layer_view is not None and self.layer_view.layer == view.layer
        self.layer_view = view
        montage = view.montage
        channels, h, w = view.maps.shape
        rows, cols = montage.grid_shape
        scaling = "own range each" if view.normalise == "channel" else "one shared range"
        self.montage_view.set_title(view.description.summary())
        self.montage_view.show_array(
            montage.image,
            colormap=self.colormap(),
            levels=(0.0, 1.0),
            caption=f"{channels} channels of {h}×{w} in a {rows}×{cols} grid · {scaling} · "
            f"ordered by {view.order}",
            keep_view=same_layer,
        )
        self._set_enabled(True)
        if same_layer and self.channel is not None and self.channel < channels:
            self.open_channel(self.channel, keep_view=True)
        else:
            self.channel = self.position = None
            self.montage_view.clear_marks()
            self.channel_view.clear_marks()
            self.channel_view.set_title("Channel")
            self.channel_view.show_array(None, caption="click a channel in the montage")
            self._show_channel_view(False)

    def _show_channel_view(self, shown: bool) -> None:
        """The channel view takes room only once a channel is open: until then the montage
        has all of it."""
        sizes = self.splitter.sizes()
        total = sum(sizes) or 1
        if shown and sizes[1] == 0:
            self.splitter.setSizes([total * 3 // 5, total * 2 // 5])
        elif not shown and sizes[1] != 0:
            self.splitter.setSizes([total, 0])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        orient(self, self.splitter)

    def open_channel(self, channel: int, *, keep_view: bool = False) -> None:
        """Show channel `channel` large, in the montage's colormap and scale."""
        view = self.layer_view
        data = view.maps[channel]
        if view.normalise == "shared":
            levels = (float(view.stats.min), float(view.stats.max))
        else:
            levels = (float(data.min()), float(data.max()))
        if levels[1] <= levels[0]:
            levels = (levels[0], levels[0] + 1.0)
        if channel != self.channel:
            self.position = None
            self.channel_view.clear_marks()
        self.channel = channel
        self._show_channel_view(True)
        self.channel_view.set_title(f"Channel {channel}")
        self.channel_view.show_array(
            data,
            colormap=self.colormap(),
            levels=levels,
            caption=f"{data.shape[0]}×{data.shape[1]} · min {data.min():.4g} · "
            f"max {data.max():.4g} · mean {data.mean():.4g}",
            keep_view=keep_view,
        )
        self.montage_view.mark(*view.montage.channel_rect(channel), colour=self._theme.marker)
        if self.position is not None:
            self.channel_view.mark(
                self.position[1], self.position[0], 1, 1, colour=self._theme.marker
            )

    def click_montage_at(self, row_px: int, col_px: int) -> None:
        """Open the channel under montage pixel (row, col) and pick that position in it."""
        if self.layer_view is None:
            return
        montage = self.layer_view.montage
        channel = montage.channel_at(row_px, col_px)
        if channel is None:
            return
        x, y, _w, _h = montage.channel_rect(channel)
        self.open_channel(channel)
        self.click_channel_at(row_px - y, col_px - x)

    def click_channel_at(self, row: int, col: int) -> None:
        """Pick position (row, col) of the open channel: mark it and ask for its field."""
        if self.channel is None:
            return
        self.position = (row, col)
        self.channel_view.mark(col, row, 1, 1, colour=self._theme.marker)
        self.hover_channel_at(row, col)
        self.sigPositionChosen.emit(self.channel, row, col)

    def hover_channel_at(self, row: int, col: int) -> None:
        """Show the open channel's value at (row, col)."""
        if self.channel is None or row < 0:
            return
        value = float(self.layer_view.maps[self.channel, row, col])
        self.readout.setText(f"channel {self.channel} · row {row}, col {col} · value {value:.5g}")

    def _hover_montage(self, row_px: int, col_px: int) -> None:
        if self.layer_view is None or row_px < 0:
            return
        montage = self.layer_view.montage
        channel = montage.channel_at(row_px, col_px)
        if channel is None:
            return
        x, y, _w, _h = montage.channel_rect(channel)
        value = float(self.layer_view.maps[channel, row_px - y, col_px - x])
        self.readout.setText(
            f"channel {channel} · row {row_px - y}, col {col_px - x} · value {value:.5g}"
        )

    def shown_channel(self) -> np.ndarray | None:
        """The array the large view draws now (None when no channel is open)."""
        return self.channel_view.image

    # --- export ---------------------------------------------------------------------
    def export_png(self, path: str | None = None) -> str | None:
        """Save the montage in the current colormap (asks for a file when `path` is None)."""
        from cnnviz.core.inspect.export import auto_scale, save_montage_png

        if self.layer_view is None:
            return None
        path = path or ask_save_path(
            self, "Save montage", f"{self.layer_view.layer}.png", "PNG (*.png)"
        )
        if path:
            montage = self.layer_view.montage
            scale = auto_scale(montage.image.shape, montage.tile_shape)
            save_montage_png(montage, path, self.colormap(), scale=scale)
        return path

    def export_npy(self, path: str | None = None) -> str | None:
        """Save the raw activations (asks for a file when `path` is None)."""
        from cnnviz.core.inspect.export import save_activations_npy

        if self.layer_view is None:
            return None
        path = path or ask_save_path(
            self, "Save activations", f"{self.layer_view.layer}.npy", "*.npy"
        )
        if path:
            save_activations_npy(self.layer_view.activation, path)
        return path

    def apply_theme(self, theme: Theme = NORMAL) -> None:
        """Backgrounds and label colours of both views."""
        self._theme = theme
        self.montage_view.apply_theme(theme)
        self.channel_view.apply_theme(theme)

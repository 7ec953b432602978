"""Inside a BatchNorm2d layer, per channel: x, x̂ from the running statistics, γx̂ + β."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from cnnviz.qt.panels.teach_common import ThemedPlot, note, refill
from cnnviz.qt.theme import Theme

if TYPE_CHECKING:
    from cnnviz.core.teach.batchnorm import BatchNormView


class BatchNormPanel(QWidget):
    """A layer and channel picker above three histograms and the statistics."""

    sigLayerChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: BatchNormView | None = None
        self.layer_combo = QComboBox()
        self.layer_combo.currentTextChanged.connect(self._on_layer)
        self.channel_spin = QSpinBox()
        self.channel_spin.valueChanged.connect(self._draw)
        row = QHBoxLayout()
        row.addWidget(QLabel("BatchNorm2d layer"))
        row.addWidget(self.layer_combo)
        row.addWidget(QLabel("channel"))
        row.addWidget(self.channel_spin)
        row.addStretch(1)
        self.stats = note("")
        self.plots = {
            "input": ThemedPlot("x: the layer's input"),
            "normalised": ThemedPlot("x-hat = (x − running mean) / √(running var + ε)"),
            "output": ThemedPlot("γ·x-hat + β: the layer's output"),
        }
        plots = QHBoxLayout()
        for plot in self.plots.values():
            plots.addWidget(plot)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.stats)
        layout.addLayout(plots, 1)

    def set_layers(self, layers: tuple[str, ...]) -> None:
        """Offer the model's BatchNorm2d layers; keep the choice where it still exists."""
        refill(self.layer_combo, layers)

    def layer(self) -> str | None:
        return self.layer_combo.currentText() or None

    def _on_layer(self, name: str) -> None:
        if name:
            self.sigLayerChosen.emit(name)

    def show_view(self, view: BatchNormView) -> None:
        self.view = view
        self.channel_spin.setRange(0, view.channels - 1)
        self._draw()

    def show_error(self, message: str) -> None:
        self.stats.setText(f"Failed: {message}")

    def _draw(self, *_: object) -> None:
        view = self.view
        if view is None:
            return
        c = min(self.channel_spin.value(), view.channels - 1)
        for name, (counts, edges) in view.histograms(c).items():
            plot = self.plots[name]
            plot.clear()
            plot.plot(
                edges,
                counts,
                stepMode="center",
                fillLevel=0,
                brush=plot.theme.muted,
                pen=plot.theme.accent,
            )
        self.stats.setText(
            f"{view.layer}, channel {c}: running mean {view.running_mean[c]:.4f} vs this "
            f"image's mean {view.input_mean[c]:.4f}; running var {view.running_var[c]:.4f} vs "
            f"this image's var {view.input_var[c]:.4f}; γ = {view.gamma[c]:.4f}, "
            f"β = {view.beta[c]:.4f}, ε = {view.eps:g}. In eval mode batch norm is this fixed "
            "affine map: x-hat is centred at 0 with spread 1 only when the image is like the "
            "training data on average."
        )

    def apply_theme(self, theme: Theme) -> None:
        for plot in self.plots.values():
            plot.apply_theme(theme)
        self._draw()

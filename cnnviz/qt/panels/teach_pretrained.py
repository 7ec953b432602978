"""Pre-trained vs random weights: one conv layer's filters and feature maps side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.qt.panels.map_view import MapView
from cnnviz.qt.panels.teach_common import montage, note, refill
from cnnviz.qt.theme import Theme

if TYPE_CHECKING:
    from cnnviz.core.teach.pretrained import PretrainedComparison, WeightsSide


def filter_pictures(filters: np.ndarray) -> np.ndarray:
    """Filters as a montage: RGB pictures for 3-channel inputs (each stretched to 0..255),
    else the mean over input channels as a float map."""
    if filters.shape[1] == 3:
        low = filters.min(axis=(1, 2, 3), keepdims=True)
        high = filters.max(axis=(1, 2, 3), keepdims=True)
        pics = (filters - low) / np.maximum(high - low, 1e-12) * 255.0
        n, _, kh, kw = pics.shape
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        out = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3), 255, dtype=np.uint8)
        for k in range(n):
            r, c = divmod(k, cols)
            out[r * (kh + 1) : r * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = (
                pics[k].transpose(1, 2, 0).round().astype(np.uint8)
            )
        return out
    return montage(filters.mean(axis=1))


class PretrainedPanel(QWidget):
    """A conv-layer picker above filters and maps: pre-trained left, random right."""

    sigLayerChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: PretrainedComparison | None = None
        self.layer_combo = QComboBox()
        self.layer_combo.currentTextChanged.connect(lambda n: n and self.sigLayerChosen.emit(n))
        row = QHBoxLayout()
        row.addWidget(QLabel("Conv layer"))
        row.addWidget(self.layer_combo)
        row.addStretch(1)
        self.text = note("")
        self.views = {
            ("trained", "filters"): MapView("Pre-trained filters"),
            ("random", "filters"): MapView("Random filters"),
            ("trained", "maps"): MapView("Pre-trained feature maps"),
            ("random", "maps"): MapView("Random feature maps"),
        }
        grid = QGridLayout()
        for (side, what), view in self.views.items():
            grid.addWidget(view, 0 if what == "filters" else 1, 0 if side == "trained" else 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.text)
        layout.addLayout(grid, 1)

    def set_layers(self, layers: tuple[str, ...]) -> None:
        refill(self.layer_combo, layers)

    def layer(self) -> str | None:
        return self.layer_combo.currentText() or None

    def show_result(self, result: PretrainedComparison) -> None:
        self.result = result
        sides: dict[str, WeightsSide] = {"trained": result.trained, "random": result.random}
        for name, side in sides.items():
            maps = montage(side.maps)
            finite = maps[np.isfinite(maps)]
            levels = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if levels[1] <= levels[0]:
                levels = (levels[0], levels[0] + 1.0)
            self.views[(name, "maps")].show_array(
                maps,
                colormap="viridis",
                levels=levels,
                caption=f"std {side.map_std:.3g} over the whole layer",
            )
            pics = filter_pictures(side.filters)
            if pics.ndim == 3:
                self.views[(name, "filters")].show_array(
                    pics, caption=f"weight std {side.filter_std:.3g}"
                )
            else:
                lim = float(np.nanmax(np.abs(pics))) or 1.0
                self.views[(name, "filters")].show_array(
                    pics,
                    colormap="diverging",
                    levels=(-lim, lim),
                    caption=f"weight std {side.filter_std:.3g}; mean over input channels",
                )
        self.text.setText(
            f"{result.layer}: left with {result.trained_description}; right with the same "
            f"architecture's random initialisation (seed {result.seed}). Same input tensor."
        )

    def show_error(self, message: str) -> None:
        self.text.setText(f"Failed: {message}")

    def apply_theme(self, theme: Theme) -> None:
        for view in self.views.values():
            view.apply_theme(theme)

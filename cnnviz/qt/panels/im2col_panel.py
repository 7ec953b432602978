"""A convolution redone as unfold (im2col) and one matrix product, checked on this input."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from cnnviz.qt.panels.adaptive import orient
from cnnviz.qt.panels.map_view import MapView
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.inspect.im2col import Im2colReport
    from cnnviz.core.inspect.view import LayerView


# Float32 matmul sums in another order than the convolution kernels; differences of this
# relative size are rounding, not a wrong result.
AGREEMENT_TOLERANCE = 1e-4


def _shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in shape)


def _bytes(n: int) -> str:
    for limit, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= limit:
            return f"{n / limit:.1f} {unit}"
    return f"{n} B"


def _symmetric(matrix: np.ndarray) -> tuple[float, float]:
    """Levels centring 0 in the diverging colormap."""
    high = float(np.abs(matrix).max()) if matrix.size else 1.0
    return (-high, high) if high > 0 else (-1.0, 1.0)


def summary_lines(report: Im2colReport, reference_scale: float) -> list[str]:
    """The figures shown beside the matrices, one per line (HTML)."""
    relative = report.max_abs_diff / reference_scale if reference_scale > 0 else 0.0
    verdict = "✓ same as the layer" if relative <= AGREEMENT_TOLERANCE else "✗ DIFFERS"
    per_group = report.groups > 1
    return [
        "<b>Convolution as one matrix product</b>",
        f"<b>Input</b> {_shape(report.input_shape[1:])}, padded to "
        f"{_shape(report.padded_shape[1:])}",
        f"<b>Unfolded input</b> {_shape(report.unfolded_shape)}"
        + (f" = {report.groups} × {_shape(report.group_unfolded_shape)}" if per_group else ""),
        f"<b>Weight matrix</b> {_shape(report.weight_matrix_shape)}"
        + (f" per group (× {report.groups})" if per_group else ""),
        f"<b>Output</b> {_shape(report.output_shape[1:])} = weights × unfolded, reshaped",
        f"<b>Multiply-accumulates</b> {report.macs:,}",
        f"<b>Memory</b> unfolded {_bytes(report.unfolded_bytes)} vs input "
        f"{_bytes(report.input_bytes)} (× {report.expansion:.1f})",
        f"<b>Check on this input</b> max |matmul − conv| = {report.max_abs_diff:.3g} "
        f"(largest |output| {reference_scale:.3g}) {verdict}",
    ]


class Im2colPanel(QWidget):
    """Matrix previews and the figures of conv-as-matmul for the selected conv layer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: Im2colReport | None = None
        self.summary = QLabel("Select a Conv2d layer to see it as a matrix multiplication.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.weight_view = MapView("Weight matrix")
        self.unfolded_view = MapView("Unfolded input (im2col)")
        self.output_view = MapView("Output = W × X")
        self.summary.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.summary.setMinimumWidth(160)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.addWidget(self.summary, 2)
        views = QHBoxLayout()
        for view in (self.weight_view, self.unfolded_view, self.output_view):
            view.setMinimumSize(80, 80)
            views.addWidget(view, 1)
        layout.addLayout(views, 6)
        self._box = layout
        layout.setDirection(layout.Direction.TopToBottom)  # until it is laid out wide

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        orient(self, self._box)

    def show_view(self, view: LayerView) -> None:
        """Show the im2col report of `view`, or say why there is none."""
        report = view.im2col
        self.report = report
        if report is None:
            reason = view.im2col_note or "it is not a Conv2d layer"
            self.summary.setText(f"No conv-as-matmul for {view.layer or 'the model'}: {reason}.")
            for v in (self.weight_view, self.unfolded_view, self.output_view):
                v.show_array(None)
            return
        scale = float(np.abs(view.activation).max()) if view.activation.size else 0.0
        self.summary.setText("<br>".join(summary_lines(report, scale)))
        k = report.group_unfolded_shape[0]
        positions = report.group_unfolded_shape[1]
        out_per_group = report.weight_matrix_shape[0]
        self.weight_view.show_array(
            report.weight_preview,
            colormap="diverging",
            levels=_symmetric(report.weight_preview),
            caption=f"{out_per_group} × {k}; top-left {_corner(report.weight_preview)}",
        )
        self.unfolded_view.show_array(
            report.unfolded_preview,
            colormap="diverging",
            levels=_symmetric(report.unfolded_preview),
            caption=f"{k} × {positions}; top-left {_corner(report.unfolded_preview)}",
        )
        self.output_view.show_array(
            report.output_preview,
            colormap="diverging",
            levels=_symmetric(report.output_preview),
            caption=f"{report.output_shape[1]} × {positions}; "
            f"top-left {_corner(report.output_preview)}",
        )

    def apply_theme(self, theme: Theme = NORMAL) -> None:
        """Backgrounds and labels of the three matrix views."""
        for view in (self.weight_view, self.unfolded_view, self.output_view):
            view.apply_theme(theme)


def _corner(matrix: np.ndarray) -> str:
    return f"{matrix.shape[0]}×{matrix.shape[1]} shown"

"""Learned parameters of the selected layer: conv kernels, or BatchNorm per-channel values."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.inspect.export import parse_channels
from cnnviz.qt.panels.adaptive import orient
from cnnviz.qt.panels.flow import FlowLayout, labelled
from cnnviz.qt.panels.map_view import MapView, ask_save_path
from cnnviz.qt.theme import INVALID_INPUT_STYLE, NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.inspect.grids import KernelGrid
    from cnnviz.core.inspect.view import LayerView


GRID_MAX_WIDTH_PX = 256
PAGE_EMPTY, PAGE_CONV, PAGE_BN = 0, 1, 2
BN_CURVES = (
    (("running_mean", "running mean"), ("running_var", "running var")),
    (
        ("weight", "γ (weight)"),
        ("bias", "β (bias)"),
    ),
)


class FiltersPanel(QWidget):
    """Kernel grid (rows: output channels) with flags, colour patches, or BatchNorm plots."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer_view: LayerView | None = None
        self.grid: KernelGrid | None = None  # drawn now (arranged)
        self.wrap_columns: int | None = None  # set when a one-column grid is drawn wrapped
        self._theme = NORMAL
        self._build()

    def _build(self) -> None:
        self.mode_box = QComboBox()
        self.mode_box.addItem("kernel grid", "grid")
        self.mode_box.addItem("colour patches", "patches")
        self.mode_box.currentIndexChanged.connect(lambda _i: self.redraw())
        self.order_box = QComboBox()
        self.order_box.addItem("by index", "index")
        self.order_box.addItem("by L2 norm", "l2")
        self.order_box.currentIndexChanged.connect(lambda _i: self.redraw())
        self.inputs_edit = QLineEdit()
        self.inputs_edit.setPlaceholderText("all, or e.g. 0-15, 32")
        self.inputs_edit.setToolTip("Input channels shown as columns")
        self.inputs_edit.editingFinished.connect(self.redraw)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.clicked.connect(lambda: self.export_png())
        # Wrapping rows: the panel also lives in a narrow side dock.
        controls = FlowLayout()
        for label, widget in (
            ("Show", self.mode_box),
            ("Rows", self.order_box),
            ("Input channels", self.inputs_edit),
        ):
            controls.addWidget(labelled(label, widget))
        controls.addWidget(self.save_button)

        self.message = QLabel("Select a Conv2d or BatchNorm layer to see its parameters.")
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setWordWrap(True)
        self.grid_view = MapView("Kernels")
        self.grid_view.sigPixelHovered.connect(self._hover)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["out", "L2 norm", "flag"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.currentCellChanged.connect(self._on_table_row)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.flags_label = QLabel()
        self.flags_label.setWordWrap(True)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.flags_label)
        side_layout.addWidget(self.table, 1)
        conv_page = QSplitter(Qt.Horizontal)
        conv_page.addWidget(self.grid_view)
        conv_page.addWidget(side)
        conv_page.setStretchFactor(0, 2)
        conv_page.setStretchFactor(1, 1)
        self._conv_page = conv_page
        self.bn_plots = pg.GraphicsLayoutWidget()
        self.bn_curves: dict[str, pg.PlotDataItem] = {}
        for col, pair in enumerate(BN_CURVES):
            plot = self.bn_plots.addPlot(row=0, col=col)
            plot.addLegend(offset=(5, 5))
            plot.setLabel("bottom", "channel")
            for (key, title), colour in zip(pair, self._theme.pair, strict=True):
                self.bn_curves[key] = plot.plot(name=title, pen=pg.mkPen(colour, width=1.5))
        self.pages = QStackedWidget()
        for page in (self.message, conv_page, self.bn_plots):
            self.pages.addWidget(page)
        self.readout = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.readout)
        self._controls = [self.mode_box, self.order_box, self.inputs_edit, self.save_button]

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        orient(self, self._conv_page)
        self._enable_controls(False)

    def _enable_controls(self, on: bool) -> None:
        for widget in self._controls:
            widget.setEnabled(on)

    # --- display --------------------------------------------------------------------
    def show_view(self, view: LayerView) -> None:
        """Show the kernels or BatchNorm parameters of `view`'s layer, if it has any."""
        same_layer = self.layer_view is not None and self.layer_view.layer == view.layer
        self.layer_view = view
        if view.kernels is not None:
            if not same_layer:
                self._reset_controls(view)
            self._enable_controls(True)
            self.mode_box.setEnabled(view.patches is not None)
            self.pages.setCurrentIndex(PAGE_CONV)
            self.redraw(keep_view=same_layer)
        elif view.batchnorm is not None:
            self._enable_controls(False)
            self.pages.setCurrentIndex(PAGE_BN)
            self._draw_batchnorm(view.batchnorm)
        else:
            self._enable_controls(False)
            self.grid = None
            self.message.setText(
                f"{view.layer or 'the model'} ({view.description.type_name}) has no kernels "
                "to show. Select a Conv2d or BatchNorm layer."
            )
            self.pages.setCurrentIndex(PAGE_EMPTY)

    def _reset_controls(self, view: LayerView) -> None:
        n_in = len(view.kernels.input_channels)
        kw = view.kernels.cell_shape[1] + view.kernels.padding
        fits = max(1, min(n_in, GRID_MAX_WIDTH_PX // kw))
        for widget in (self.mode_box, self.order_box, self.inputs_edit):
            widget.blockSignals(True)
        self.inputs_edit.setText("all" if fits == n_in else f"0-{fits - 1}")
        self.mode_box.setCurrentIndex(1 if view.patches is not None else 0)
        for widget in (self.mode_box, self.order_box, self.inputs_edit):
            widget.blockSignals(False)

    def redraw(self, *, keep_view: bool = False) -> None:
        """Re-lay the kernels for the current order and input channels (or show patches)."""
        from cnnviz.core.inspect.export import arrange_kernels, tile_patches, wrap_kernels

        view = self.layer_view
        if view is None or view.kernels is None:
            return
        try:
            chosen = parse_channels(self.inputs_edit.text(), len(view.kernels.input_channels))
            self.inputs_edit.setStyleSheet("")
        except ValueError as exc:
            self.inputs_edit.setStyleSheet(INVALID_INPUT_STYLE)
            self.readout.setText(str(exc))
            return
        order = self.order_box.currentData()
        self.grid = arrange_kernels(view.kernels, order=order, input_channels=chosen)
        if self.mode() == "patches" and view.patches is not None:
            tiled = tile_patches(view.patches)
            alpha = np.where(np.isnan(tiled[..., :1]), 0, 255).astype(np.uint8)
            rgb = np.round(np.nan_to_num(tiled) * 255).astype(np.uint8)
            self.grid_view.show_array(
                np.concatenate([rgb, alpha], axis=2),
                caption=f"{view.layer}: {len(view.patches)} kernels as RGB, each scaled to "
                "its own range",
                keep_view=keep_view,
            )
        else:
            out_c = len(self.grid.order)
            image, self.wrap_columns = self.grid.image, None
            if len(chosen) == 1 and out_c > 1:
                # One kernel per output channel (depthwise): tile them instead of a column.
                image, self.wrap_columns = wrap_kernels(self.grid)
            self.grid_view.show_array(
                image,
                colormap="diverging",
                levels=(0.0, 1.0),
                caption=f"{view.layer}: {out_c} output × {len(chosen)} of "
                f"{len(view.kernels.input_channels)} input channels · blue −, red + "
                f"(±{self.grid.scale:.3g})",
                keep_view=keep_view,
            )
            if not keep_view:
                self.grid_view.fit_readable(self.grid.cell_shape[0] + self.grid.padding)
        self._fill_table()

    def mode(self) -> str:
        """ "grid" or "patches"."""
        return self.mode_box.currentData()

    def _fill_table(self) -> None:
        grid = self.grid
        near_zero = np.flatnonzero(grid.near_zero).tolist()
        pairs = [
            (o, int(grid.duplicate_of[o])) for o in np.flatnonzero(grid.duplicate_of >= 0).tolist()
        ]
        lines = [
            f"{len(grid.order)} kernels: {len(near_zero)} near zero, {len(pairs)} near-duplicate"
        ]
        if near_zero:
            lines.append("near zero: " + _listed([str(o) for o in near_zero]))
        if pairs:
            lines.append("≈: " + _listed([f"{o}≈{d}" for o, d in pairs if o < d] or ["…"]))
        self.flags_label.setText("\n".join(lines))
        self.table.setUpdatesEnabled(False)
        self.table.setRowCount(len(grid.order))
        for row, channel in enumerate(grid.order.tolist()):
            flag = "near zero" if grid.near_zero[channel] else ""
            if grid.duplicate_of[channel] >= 0:
                flag = f"≈ out {int(grid.duplicate_of[channel])}"
            cells = (str(channel), f"{grid.norms[channel]:.4g}", flag)
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setUpdatesEnabled(True)

    def flagged(self) -> dict[int, str]:
        """Output channel → flag text, as the table lists them."""
        rows = {}
        for row in range(self.table.rowCount()):
            flag = self.table.item(row, 2).text()
            if flag:
                rows[int(self.table.item(row, 0).text())] = flag
        return rows

    def _on_table_row(self, row: int, *_rest: int) -> None:
        grid = self.grid
        if grid is None or row < 0 or self.mode() == "patches":
            return
        kh, kw = grid.cell_shape
        p = grid.padding
        if self.wrap_columns:
            tile_row, tile_col = divmod(row, self.wrap_columns)
            x, y = tile_col * (kw + p), tile_row * (kh + p)
            self.grid_view.mark(x, y, kw + 2 * p, kh + 2 * p, colour=self._theme.selection)
        else:
            width = grid.image.shape[1]
            self.grid_view.mark(0, row * (kh + p), width, kh + 2 * p, colour=self._theme.selection)

    def _hover(self, row_px: int, col_px: int) -> None:
        grid = self.grid
        if grid is None or row_px < 0 or self.mode() == "patches":
            return
        hit = self.kernel_at(row_px, col_px)
        if hit is None:
            return
        out, inp = hit
        weight = (self.grid_view.image[row_px, col_px] - 0.5) * 2 * grid.scale
        self.readout.setText(
            f"out {out}, in {inp} · weight {weight:.4g} · kernel L2 norm {grid.norms[out]:.4g}"
        )

    def kernel_at(self, row_px: int, col_px: int) -> tuple[int, int] | None:
        """(output, input channel) drawn at a pixel of the shown grid, or None in a gap."""
        grid = self.grid
        if self.wrap_columns is None:
            return grid.kernel_at(row_px, col_px)
        kh, kw = grid.cell_shape
        p = grid.padding
        tile_row, in_row = divmod(row_px - p, kh + p)
        tile_col, in_col = divmod(col_px - p, kw + p)
        k = tile_row * self.wrap_columns + tile_col
        if min(row_px, col_px) < p or in_row >= kh or in_col >= kw or k >= len(grid.order):
            return None
        if tile_col >= self.wrap_columns:
            return None
        return int(grid.order[k]), grid.input_channels[0]

    def _draw_batchnorm(self, params: dict[str, np.ndarray]) -> None:
        symbol = "o" if len(params["weight"]) <= 64 else None
        for key, curve in self.bn_curves.items():
            values = params.get(key)
            if values is None:
                curve.setData([], [])
            else:
                curve.setData(np.arange(len(values)), values, symbol=symbol, symbolSize=5)

    # --- export ---------------------------------------------------------------------
    def export_png(self, path: str | None = None) -> str | None:
        """Save the kernels as drawn (asks for a file when `path` is None)."""
        from cnnviz.core.inspect.export import (
            auto_scale,
            save_kernel_grid_png,
            save_patches_png,
            tile_patches,
        )

        view = self.layer_view
        if view is None or self.grid is None:
            return None
        path = path or ask_save_path(
            self, "Save kernels", f"{view.layer}_kernels.png", "PNG (*.png)"
        )
        if not path:
            return path
        if self.mode() == "patches" and view.patches is not None:
            shape = tile_patches(view.patches).shape
            save_patches_png(view.patches, path, scale=auto_scale(shape, view.patches.shape[1:3]))
        else:
            scale = auto_scale(self.grid.image.shape, self.grid.cell_shape, target=16)
            save_kernel_grid_png(self.grid, path, scale=scale)
        return path

    def apply_theme(self, theme: Theme = NORMAL) -> None:
        """Backgrounds of the kernel view and the BatchNorm plots."""
        self._theme = theme
        self.grid_view.apply_theme(theme)
        self.bn_plots.setBackground(theme.background)


def _listed(items: list[str], limit: int = 12) -> str:
    return ", ".join(items[:limit]) + (f" … (+{len(items) - limit})" if len(items) > limit else "")

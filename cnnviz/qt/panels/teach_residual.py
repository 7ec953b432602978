"""A residual add: x (skip), F(x) (branch) and x + F(x) on one shared colour scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.qt.panels.map_view import MapView
from cnnviz.qt.panels.teach_common import montage, note, refill
from cnnviz.qt.theme import Theme

if TYPE_CHECKING:
    from cnnviz.core.teach.residual import ResidualView


class ResidualPanel(QWidget):
    """An add-node picker above three montages (first 16 channels) and their norms."""

    sigNodeChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: ResidualView | None = None
        self.node_combo = QComboBox()
        self.node_combo.currentTextChanged.connect(lambda n: n and self.sigNodeChosen.emit(n))
        row = QHBoxLayout()
        row.addWidget(QLabel("Residual add (⊕)"))
        row.addWidget(self.node_combo)
        row.addStretch(1)
        self.norms = note("")
        self.maps = {
            "skip": MapView("x (the skip)"),
            "branch": MapView("F(x) (the branch)"),
            "total": MapView("x + F(x)"),
        }
        maps = QHBoxLayout()
        for view in self.maps.values():
            maps.addWidget(view)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.norms)
        layout.addLayout(maps, 1)

    def set_nodes(self, nodes: tuple[str, ...]) -> None:
        refill(self.node_combo, nodes)
        if not nodes:
            self.norms.setText("This model has no residual additions (or fx cannot trace it).")

    def node(self) -> str | None:
        return self.node_combo.currentText() or None

    def show_view(self, view: ResidualView) -> None:
        self.view = view
        low, high = view.value_range
        if high <= low:
            high = low + 1.0
        arrays = {"skip": view.skip, "branch": view.branch, "total": view.total}
        for name, array in arrays.items():
            self.maps[name].show_array(
                montage(array),
                colormap="diverging" if low < 0 < high else "viridis",
                levels=(low, high),
                caption=f"{min(16, len(array))} of {len(array)} channels",
            )
        self.norms.setText(
            f"{view.node}: x is {view.skip_name}, F(x) is {view.branch_name}. {view.summary()}. "
            f"One colour scale for all three: {low:.3g} to {high:.3g}."
        )

    def show_error(self, message: str) -> None:
        self.norms.setText(f"Failed: {message}")

    def apply_theme(self, theme: Theme) -> None:
        for view in self.maps.values():
            view.apply_theme(theme)

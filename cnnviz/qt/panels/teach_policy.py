"""What the lab's random policies drew: operations, magnitudes, AugMix chains and weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.panels.teach_common import note
from cnnviz.qt.theme import Theme

if TYPE_CHECKING:
    from cnnviz.core.teach.policy import PolicyDraw

COLUMNS = ["Step", "Policy", "Chain", "Operation", "Magnitude", "In words"]


class PolicyPanel(QWidget):
    """A table of the drawn operations, in the order they ran."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.draws: tuple[PolicyDraw, ...] = ()
        self.text = note(
            "Add AutoAugment, RandAugment, TrivialAugmentWide or AugMix in the Augment "
            "workspace to see what they draw for its seed."
        )
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.table, 1)

    def show_draws(self, draws: tuple[PolicyDraw, ...], seed: int | None = None) -> None:
        self.draws = draws
        rows = [(d, op) for d in draws for op in d.ops]
        self.table.setRowCount(len(rows))
        for i, (d, op) in enumerate(rows):
            chain = "" if op.chain is None else f"{op.chain + 1} (× {op.chain_weight:.3f})"
            cells = [
                str(d.step + 1),
                d.transform,
                chain,
                op.operation,
                f"{op.magnitude:.4g}",
                op.describe(),
            ]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if not draws:
            self.text.setText(
                "The lab pipeline has no random policy (deterministic transforms draw nothing)."
            )
            return
        lines = [d.summary() for d in draws]
        noop = any(op.operation == "Identity" for _d, op in rows)
        extra = " An Identity draw leaves the image unchanged." if noop else ""
        where = f" (seed {seed})" if seed is not None else ""
        self.text.setText(f"Drawn{where}: " + " | ".join(lines) + "." + extra)

    def show_error(self, message: str) -> None:
        self.text.setText(f"Failed: {message}")

    def apply_theme(self, theme: Theme) -> None:
        return None

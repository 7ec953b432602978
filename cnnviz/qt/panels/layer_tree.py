"""The model's module hierarchy in forward order, with residual adds and concatenations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.inspect.tree import LayerTree, TreeNode


COLUMNS = ("Layer", "Type", "Output", "Params", "k / s / p")
NAME_ROLE = Qt.UserRole
# Both glyphs are in DejaVu Sans, the usual fallback font on Linux.
JOIN_SYMBOLS = {"add": "⊕", "concat": "∥"}
EXPAND_DEPTH = 1


def _shape_text(shape: tuple[int, ...] | None) -> str:
    return "×".join(str(s) for s in shape[1:]) if shape else "—"


class LayerTreePanel(QWidget):
    """A filterable tree of modules and joins; picking a row emits sigLayerSelected(name)."""

    sigLayerSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree_data: LayerTree | None = None
        self.items: dict[str, QTreeWidgetItem] = {}
        self._quiet = False
        self._theme = NORMAL
        self._join_items: list[QTreeWidgetItem] = []
        self.filter_box = QLineEdit()
        self.filter_box.setPlaceholderText("Filter layers (name or type)…")
        self.filter_box.setClearButtonEnabled(True)
        self.filter_box.textChanged.connect(self.apply_filter)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        self.tree.setIndentation(12)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter_box)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.note)

    # --- content --------------------------------------------------------------------
    def set_tree(self, tree: LayerTree) -> None:
        """Show `tree` (a LayerTree), replacing the previous model's."""
        from cnnviz.core.inspect.tree import LayerNode

        self._quiet = True
        try:
            self.tree.clear()
            self.items = {}
            self._join_items = []
            self.tree_data = tree
            root = self._add_item(self.tree.invisibleRootItem(), tree.root)
            stack = [(root, tree.root)]
            while stack:
                item, node = stack.pop()
                for child in node.children:
                    child_item = self._add_item(item, child)
                    if isinstance(child, LayerNode) and child.children:
                        stack.append((child_item, child))
            self._expand(root, 0)
        finally:
            self._quiet = False
        note = "" if tree.joins_available else f"Joins not shown: {tree.trace_error}"
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.apply_filter(self.filter_box.text())

    def _add_item(self, parent: QTreeWidgetItem, node: TreeNode) -> QTreeWidgetItem:
        from cnnviz.core.inspect.text import conv_geometry, format_count
        from cnnviz.core.inspect.tree import JoinNode

        if isinstance(node, JoinNode):
            label = node.name.rpartition(".")[2]
            symbol = JOIN_SYMBOLS.get(node.kind, "•")
            joined = (" + " if node.kind == "add" else ", ").join(node.inputs)
            texts = [f"{symbol} {label}", node.kind, _shape_text(node.output_shape), "", ""]
            item = QTreeWidgetItem(parent, texts)
            item.setToolTip(0, f"{node.name}\n{node.kind} of: {joined}")
            item.setToolTip(1, f"{node.kind} of: {joined}")
            item.setForeground(1, QBrush(QColor(self._theme.join)))
            self._join_items.append(item)
        else:
            label = node.name.rpartition(".")[2] if node.name else node.type_name
            geometry = conv_geometry(node.conv) if node.conv is not None else ""
            texts = [
                label,
                node.type_name,
                _shape_text(node.output_shape),
                format_count(node.total_params) if node.total_params else "",
                geometry,
            ]
            item = QTreeWidgetItem(parent, texts)
            item.setToolTip(0, node.name or "the whole model (its output is the logits)")
            if not node.ran:
                item.setDisabled(True)
                item.setToolTip(0, f"{node.name}: not called in the forward pass")
            if node.conv is not None:
                # Only the weight is set, so the row keeps the view's (themed) font size.
                font = QFont()
                font.setBold(True)
                item.setFont(0, font)
        for column in (2, 3):
            item.setTextAlignment(column, Qt.AlignRight | Qt.AlignVCenter)
        item.setData(0, NAME_ROLE, node.name)
        self.items[node.name] = item
        return item

    def _expand(self, item: QTreeWidgetItem, depth: int) -> None:
        item.setExpanded(depth <= EXPAND_DEPTH)
        for i in range(item.childCount()):
            self._expand(item.child(i), depth + 1)

    # --- selection ------------------------------------------------------------------
    def select(self, name: str, *, emit: bool = True) -> None:
        """Make `name` the current row (scrolled into view); emit only when `emit`."""
        item = self.items.get(name)
        if item is None:
            raise KeyError(name)
        self._quiet = not emit
        try:
            parent = item.parent()
            while parent is not None:
                parent.setExpanded(True)
                parent = parent.parent()
            self.tree.setCurrentItem(item)
            self.tree.scrollToItem(item)
        finally:
            self._quiet = False

    def current_layer(self) -> str | None:
        """The name of the current row, or None."""
        item = self.tree.currentItem()
        return item.data(0, NAME_ROLE) if item is not None else None

    def _on_current_changed(
        self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None
    ) -> None:
        if current is None or self._quiet or current.isDisabled():
            return
        self.sigLayerSelected.emit(current.data(0, NAME_ROLE))

    # --- filtering ------------------------------------------------------------------
    def apply_filter(self, text: str) -> None:
        """Show rows whose name or type contains `text`, with their ancestors."""
        needle = text.strip().lower()
        iterator = QTreeWidgetItemIterator(self.tree)
        matches: list[QTreeWidgetItem] = []
        while iterator.value() is not None:
            item = iterator.value()
            name = str(item.data(0, NAME_ROLE) or "")
            hit = not needle or needle in name.lower() or needle in item.text(1).lower()
            item.setHidden(not hit)
            if hit and needle:
                matches.append(item)
            iterator += 1
        for item in matches:
            parent = item.parent()
            while parent is not None:
                parent.setHidden(False)
                parent.setExpanded(True)
                parent = parent.parent()

    def visible_layers(self) -> list[str]:
        """Names of rows not hidden by the filter, in tree order."""
        names = []
        iterator = QTreeWidgetItemIterator(self.tree)
        while iterator.value() is not None:
            item = iterator.value()
            if not item.isHidden():
                names.append(item.data(0, NAME_ROLE))
            iterator += 1
        return names

    def apply_theme(self, theme: Theme = NORMAL) -> None:
        """Fonts follow the window; join rows and the trace note have their own colours."""
        self._theme = theme
        self.note.setStyleSheet(f"color: {theme.warning_bg};")
        brush = QBrush(QColor(theme.join))
        for item in self._join_items:
            item.setForeground(1, brush)

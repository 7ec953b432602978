"""Pieces of the augmentation lab: the grouped catalogue and the second-image picker."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.augment.catalog import CATALOG, GROUPS
from cnnviz.qt.image_input import image_file_filter
from cnnviz.resources_path import samples

GROUP_TITLES = {
    "basic": "Basic",
    "geometric": "Geometric",
    "colour": "Colour",
    "other": "Other",
    "policies": "Policies (random / learned)",
    "mixing": "Mixing (needs a second image)",
}


def scrolled(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless scroll area that resizes it to the available width."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.NoFrame)
    return area


class CatalogueToggles(QScrollArea):
    """One check box per catalogue transform, grouped; emits (name, on) on user clicks."""

    sigToggled = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.setContentsMargins(0, 0, 0, 0)
        self.toggles: dict[str, QCheckBox] = {}
        self._grids: list[tuple[QGridLayout, list[QCheckBox]]] = []
        self._columns = 2
        for group in GROUPS:
            box = QGroupBox(GROUP_TITLES.get(group, group))
            grid = QGridLayout(box)
            grid.setContentsMargins(6, 4, 6, 4)
            grid.setVerticalSpacing(2)
            toggles = []
            for entry in (e for e in CATALOG if e.group == group):
                toggle = QCheckBox(entry.name)
                toggle.setToolTip(entry.description)
                toggle.toggled.connect(lambda on, name=entry.name: self.sigToggled.emit(name, on))
                self.toggles[entry.name] = toggle
                toggles.append(toggle)
            self._grids.append((grid, toggles))
            column.addWidget(box)
        column.addStretch(1)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.NoFrame)
        self._place(2)

    def _place(self, columns: int) -> None:
        """The check boxes in `columns` columns per group."""
        self._columns = columns
        for grid, toggles in self._grids:
            for toggle in toggles:
                grid.removeWidget(toggle)
            for i, toggle in enumerate(toggles):
                grid.addWidget(toggle, i // columns, i % columns)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Two columns when both fit, else one: a name is never cut off at the side.
        widest = max(t.sizeHint().width() for t in self.toggles.values())
        columns = 2 if self.viewport().width() >= 2 * widest + 40 else 1
        if columns != self._columns:
            self._place(columns)
        self.setMinimumWidth(widest + 40)  # one column always fits, in any font
        super().resizeEvent(event)

    def show_enabled(self, names: Iterable[str]) -> None:
        """Tick exactly the transforms in `names`, without emitting."""
        on = set(names)
        for name, toggle in self.toggles.items():
            toggle.blockSignals(True)
            toggle.setChecked(name in on)
            toggle.blockSignals(False)


class SecondImagePicker(QGroupBox):
    """The second image for MixUp/CutMix: a bundled sample or any file; shows label weights."""

    sigChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Second image to mix", parent)
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(8)
        for title, path in samples():
            self.combo.addItem(title, str(path))
        self.combo.setCurrentIndex(-1)
        self.combo.currentIndexChanged.connect(self._on_index)
        self.button = QPushButton("Second image…")
        self.button.setToolTip("Pick any image file as the second image for MixUp / CutMix")
        self.button.clicked.connect(self.choose_file)
        self.weights_label = QLabel("")
        self.weights_label.setWordWrap(True)
        line = QHBoxLayout()
        line.addWidget(self.combo, 1)
        line.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.addLayout(line)
        layout.addWidget(self.weights_label)

    def path(self) -> str | None:
        """The chosen image's path, or None."""
        return self.combo.currentData() if self.combo.currentIndex() >= 0 else None

    def set_path(self, path: str, *, emit: bool = True) -> None:
        """Choose `path` (added to the list when it is not a bundled sample)."""
        index = self.combo.findData(path)
        if index < 0:
            self.combo.addItem(Path(path).name, path)
            index = self.combo.count() - 1
        self.combo.blockSignals(not emit)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def pick_default(self, avoid: object) -> str | None:
        """Choose the first bundled sample that is not `avoid`, without emitting."""
        avoided = _resolved(avoid)
        for i in range(self.combo.count()):
            if _resolved(self.combo.itemData(i)) != avoided:
                self.set_path(self.combo.itemData(i), emit=False)
                return self.path()
        return None

    def choose_file(self) -> None:
        """Ask for an image file."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Second image for MixUp / CutMix", "", image_file_filter()
        )
        if path:
            self.set_path(path)

    def _on_index(self, _index: int) -> None:
        path = self.path()
        if path is not None:
            self.sigChosen.emit(path)


def _resolved(source: object) -> object:
    """A path as an absolute one, so that relative and absolute spellings compare equal."""
    if isinstance(source, str):
        try:
            return Path(source).resolve()
        except OSError:
            return source
    return source

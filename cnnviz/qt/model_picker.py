"""Architecture and device pickers: architectures grouped by family with their facts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QWidget

if TYPE_CHECKING:
    from cnnviz.core.device import DeviceInfo
    from cnnviz.core.zoo.catalog import ArchRow

NAME_ROLE = Qt.UserRole + 1
STATUS_TEXT = {
    "offline": "offline weights",
    "cached": "cached",
    "downloadable": "downloadable",
    "untrained": "untrained",
}


class ArchPicker(QComboBox):
    """Family headers (not selectable) followed by their architectures."""

    sigArchChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(QStandardItemModel(self))
        self.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.setMinimumContentsLength(28)
        self.setToolTip("Architecture (grouped by family: year · parameters · weights)")
        self._rows: dict[str, ArchRow] = {}
        self.addItem("Loading model list…")
        self.setEnabled(False)
        self.activated.connect(self._on_activated)

    def set_rows(self, rows: Sequence[ArchRow], current: str) -> None:
        model: QStandardItemModel = self.model()
        self.blockSignals(True)
        model.clear()
        self._rows = {r.name: r for r in rows}
        family = None
        for row in rows:
            if row.family != family:
                family = row.family
                header = QStandardItem(family)
                header.setFlags(Qt.NoItemFlags)
                bold = QFont(self.font())
                bold.setBold(True)
                header.setFont(bold)
                model.appendRow(header)
            item = QStandardItem(
                f"    {row.display_name}  ·  {row.year}  ·  "
                f"{row.params / 1e6:.1f} M  ·  {STATUS_TEXT[row.weights]}"
            )
            item.setData(row.name, NAME_ROLE)
            item.setToolTip(
                f"{row.paper} ({row.paper_url})\ninput {row.input_size} px, {row.classes} classes"
            )
            model.appendRow(item)
        self.setEnabled(True)
        self.select(current)
        self.blockSignals(False)

    def select(self, name: str) -> None:
        index = self.findData(name, NAME_ROLE)
        if index >= 0:
            self.setCurrentIndex(index)

    def _on_activated(self, index: int) -> None:
        name = self.itemData(index, NAME_ROLE)
        if name:
            self.sigArchChosen.emit(name)


class DevicePicker(QComboBox):
    sigDeviceChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Where the model runs")
        self.addItem("Detecting devices…")
        self.setEnabled(False)
        self.activated.connect(lambda i: self.sigDeviceChosen.emit(self.itemData(i)))

    def set_devices(self, devices: Sequence[DeviceInfo], current: str | None) -> None:
        self.blockSignals(True)
        self.clear()
        for info in devices:
            self.addItem(info.label, info.name)
        self.setEnabled(True)
        index = self.findData(current) if current else 0
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)

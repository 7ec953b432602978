"""Messages across the top of the window: the untrained warning, errors and notices."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from cnnviz.qt.theme import BANNER_STYLES as STYLES


class Banner(QWidget):
    """A coloured strip with a message; closable unless it must stay (untrained)."""

    def __init__(self, kind: str, *, closable: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.setStyleSheet(STYLES[kind])
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label, 1)
        if closable:
            close = QToolButton()
            close.setText("✕")
            close.setToolTip("Dismiss")
            close.setAutoRaise(True)
            close.clicked.connect(self.hide)
            layout.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

"""The true class of the shown image: type to search the model's classes; hit or miss, rank.

The panel holds the text and draws what the controller (cnnviz.qt.truth_controller) worked
out; it computes nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.theme import NORMAL, Theme

HIT_STYLE = "color: {color}; font-weight: bold;"


class TrueLabelPanel(QWidget):
    """A class-name field with completion, the verdict line, and the sample's note."""

    sigLabelChanged = Signal(str)  # the text the user settled on ("" clears it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = NORMAL
        self._last_emitted = ""
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Type to search the model's classes…")
        self.edit.setClearButtonEnabled(True)
        self.edit.setToolTip("The image's true class: top-1 and top-5 hit or miss, and its rank")
        self.classes = QStringListModel(self)
        self.completer = QCompleter(self.classes, self)
        self.completer.setCaseSensitivity(Qt.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchContains)
        self.completer.setMaxVisibleItems(12)
        self.edit.setCompleter(self.completer)
        self.completer.activated.connect(self._on_activated)
        self.edit.editingFinished.connect(self._emit)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.clear_button)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setObjectName("sampleNote")
        # The content scrolls rather than forcing the window taller than a small screen.
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.verdict)
        layout.addWidget(self.detail)
        layout.addWidget(self.note)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.show_verdict(None)
        self.set_note(None)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Ask for the field, two verdict lines and a three-line note."""
        line = self.fontMetrics().lineSpacing()
        return QSize(280, self.edit.sizeHint().height() + 6 * line + 24)

    # --- input ----------------------------------------------------------------------
    def set_classes(self, categories: Sequence[str]) -> None:
        """The names the completer offers: the shown model's classes, alphabetically (a name
        ImageNet lists twice, such as crane, once)."""
        self.classes.setStringList(sorted(set(categories), key=str.casefold))

    def label(self) -> str:
        return self.edit.text().strip()

    def set_label(self, text: str | None, *, emit: bool = False) -> None:
        """Put `text` in the field (a sample's recorded label); emit only if asked."""
        self.edit.setText(text or "")
        self._last_emitted = self.label()
        if emit:
            self.sigLabelChanged.emit(self.label())

    def clear(self) -> None:
        self.edit.clear()
        self._emit()

    def _on_activated(self, text: str) -> None:
        self.edit.setText(text)
        self._emit()

    def _emit(self) -> None:
        text = self.label()
        if text != self._last_emitted:
            self._last_emitted = text
            self.sigLabelChanged.emit(text)

    # --- output ---------------------------------------------------------------------
    def show_verdict(
        self,
        verdict: str | None,
        detail: str = "",
        *,
        top1_hit: bool | None = None,
        error: bool = False,
    ) -> None:
        """The hit/miss line (coloured) and the rank line; None: no label set."""
        if verdict is None:
            self.verdict.setText("Set the true class to see top-1 and top-5 hit or miss.")
            self.verdict.setStyleSheet("")
        else:
            self.verdict.setText(verdict)
            if error:
                color = self._theme.warning_bg
            elif top1_hit is None:
                color = self._theme.foreground
            else:
                color = self._theme.selection if top1_hit else self._theme.marker
            self.verdict.setStyleSheet(HIT_STYLE.format(color=color))
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))

    def set_note(self, note: str | None) -> None:
        """The bundled sample's note (e.g. ImageNet has no class for a person)."""
        self.note.setText(f"Sample note: {note}" if note else "")
        self.note.setVisible(bool(note))

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme

"""The Teach workspace's star: one tab per mechanism of the lecture."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from cnnviz.qt.panels.teach_batchnorm import BatchNormPanel
from cnnviz.qt.panels.teach_dropout import TrainEvalPanel
from cnnviz.qt.panels.teach_finetune import FineTunePanel
from cnnviz.qt.panels.teach_policy import PolicyPanel
from cnnviz.qt.panels.teach_preprocess import PreprocessPanel
from cnnviz.qt.panels.teach_residual import ResidualPanel
from cnnviz.qt.theme import Theme


class TeachPanel(QWidget):
    """Tabs: train vs eval, batch norm, residual add, preprocessing, policy draws, fine-tune."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dropout = TrainEvalPanel()
        self.batchnorm = BatchNormPanel()
        self.residual = ResidualPanel()
        self.preprocess = PreprocessPanel()
        self.policy = PolicyPanel()
        self.finetune = FineTunePanel()
        self.tabs = QTabWidget()
        for panel, title in (
            (self.dropout, "Dropout: train vs eval"),
            (self.batchnorm, "Batch norm"),
            (self.residual, "Residual add"),
            (self.preprocess, "Preprocessing"),
            (self.policy, "Policy draws"),
            (self.finetune, "Fine-tune"),
        ):
            self.tabs.addTab(panel, title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

    def current(self) -> QWidget:
        return self.tabs.currentWidget()

    def apply_theme(self, theme: Theme) -> None:
        for panel in (
            self.dropout,
            self.batchnorm,
            self.residual,
            self.preprocess,
            self.policy,
            self.finetune,
        ):
            panel.apply_theme(theme)

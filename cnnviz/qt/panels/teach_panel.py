"""The Teach workspace's star: one tab per mechanism of the lecture."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from cnnviz.qt.panels.teach_batchnorm import BatchNormPanel
from cnnviz.qt.panels.teach_dropout import TrainEvalPanel
from cnnviz.qt.panels.teach_finetune import FineTunePanel
from cnnviz.qt.panels.teach_policy import PolicyPanel
from cnnviz.qt.panels.teach_preprocess import PreprocessPanel
from cnnviz.qt.panels.teach_pretrained import PretrainedPanel
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
        self.pretrained = PretrainedPanel()
        self.finetune = FineTunePanel()
        self.tabs = QTabWidget()
        for panel, title, tip in (
            (self.dropout, "Train vs eval", "Dropout and batch norm: training vs inference"),
            (self.batchnorm, "Batch norm", "Inside a BatchNorm2d layer: x, x-hat, γx-hat + β"),
            (self.residual, "Residual ⊕", "A residual add: x, F(x) and x + F(x)"),
            (self.preprocess, "Preprocess", "Resize, centre crop and normalise, step by step"),
            (self.policy, "Drawn ops", "What AutoAugment/RandAugment/TrivialAugment/AugMix drew"),
            (self.pretrained, "Random init", "Pre-trained vs random weights, same layer"),
            (self.finetune, "Fine-tune", "A new linear head on the frozen backbone"),
        ):
            self.tabs.setTabToolTip(self.tabs.addTab(panel, title), tip)
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
            self.pretrained,
            self.finetune,
        ):
            panel.apply_theme(theme)

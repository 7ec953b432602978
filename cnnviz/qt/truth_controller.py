"""The true label in the Classify workspace: rank, probability, top-1/top-5 hit or miss.

On every shown result the true class is looked up in the *full* probability vector
(cnnviz.core.labels, numpy only), so its rank and probability are known even when it is far
outside the top-5. The model's class names come from the worker once per architecture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot

from cnnviz.qt.panels.true_label import TrueLabelPanel

if TYPE_CHECKING:
    from cnnviz.core.analysis import AnalysisResult
    from cnnviz.core.labels import TruthResult
    from cnnviz.core.requests import ImageSource
    from cnnviz.qt.main_window import MainWindow


def truth_text(truth: TruthResult, num_classes: int) -> tuple[str, str]:
    """The verdict line and the rank line, as in the lecture's worked example."""
    top1 = "top-1 hit" if truth.top1_hit else "top-1 miss"
    top5 = "top-5 hit" if truth.top5_hit else "top-5 miss"
    detail = f"rank {truth.rank} of {num_classes}, p = {_percent(truth.probability)}"
    return f"{top1} · {top5}", detail


def _percent(p: float) -> str:
    return f"{p:.2%}" if p >= 1e-4 else f"{p:.2e}"


class TruthController(QObject):
    """Keeps the panel's label per image, prefilled for bundled samples."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = TrueLabelPanel()
        self.classes: dict[str, tuple[str, ...]] = {}  # per architecture
        self.labels: dict[str, str] = {}  # what the user set, per image file
        self.truth: TruthResult | None = None  # of the shown result
        self._image: ImageSource | None = None
        self._asked: set[str] = set()
        self.dock = window.add_dock(
            "True label", self.panel, Qt.RightDockWidgetArea, workspace="Classify"
        )
        window.themed_widgets.append(self.panel)
        self.panel.sigLabelChanged.connect(self._on_label_changed)
        window.sigResultShown.connect(self._on_result_shown)
        if window.shown_result is not None:
            self._on_result_shown(window.shown_result)

    # --- events ---------------------------------------------------------------------
    @Slot(object)
    def _on_result_shown(self, result: AnalysisResult) -> None:
        request = self.window.shown_request
        image = request.image if request is not None else None
        if image != self._image:
            self._image = image
            self._prefill(image)
        arch = result.model.arch
        if arch in self.classes:
            self.panel.set_classes(self.classes[arch])
        else:
            self._ask_classes(arch)
        self.update()

    def _on_label_changed(self, text: str) -> None:
        if isinstance(self._image, str):  # a file; pasted bytes are not kept
            self.labels[self._image] = text
        self.update()

    def _prefill(self, image: ImageSource | None) -> None:
        from cnnviz.core.labels import sample_label

        recorded = sample_label(image) if isinstance(image, str) else None
        note = recorded.note if recorded is not None else None
        if image in self.labels:
            text = self.labels[image]
        else:
            text = recorded.true_label if recorded is not None else None
        self.panel.set_label(text)
        self.panel.set_note(note)

    def _ask_classes(self, arch: str) -> None:
        worker = self.window.worker_thread
        if worker is None or arch in self._asked:
            return
        from cnnviz.core.truth_requests import ClassNamesRequest

        self._asked.add(arch)
        worker.submit(ClassNamesRequest(arch), lambda names: self._on_classes(arch, names))

    def _on_classes(self, arch: str, names: tuple[str, ...]) -> None:
        self.classes[arch] = names
        result = self.window.shown_result
        if result is not None and result.model.arch == arch:
            self.panel.set_classes(names)
            self.update()

    # --- the verdict ----------------------------------------------------------------
    def update(self) -> None:
        """Recompute the verdict for the shown result and the label in the field."""
        self.truth = None
        result = self.window.shown_result
        text = self.panel.label()
        predictions = self.window.predictions
        if not text or result is None or result.prediction is None:
            self.panel.show_verdict(None)
            predictions.highlight_label(None)
            return
        names = self.classes.get(result.model.arch)
        probabilities = result.prediction.probabilities
        if names is None or len(names) != len(probabilities):
            self.panel.show_verdict("Reading the model's class names…")
            predictions.highlight_label(None)
            return
        from cnnviz.core.labels import LabelError, class_index, truth_of

        try:
            index = class_index(names, text)
        except LabelError as exc:
            self.panel.show_verdict(str(exc), error=True)
            predictions.highlight_label(None)
            return
        truth = truth_of(probabilities, index, names)
        self.truth = truth
        verdict, detail = truth_text(truth, len(names))
        self.panel.show_verdict(f"{truth.label}: {verdict}", detail, top1_hit=truth.top1_hit)
        in_shown = any(row.label == truth.label for row in predictions.rows)
        predictions.highlight_label(truth.label if in_shown else None)


def install_true_label(window: MainWindow) -> TruthController:
    """Add the True label dock to the Classify workspace once."""
    controller = getattr(window, "true_label", None)
    if controller is None:
        controller = TruthController(window)
        window.true_label = controller
    return controller

"""The augmentation lab: catalogue toggles, an ordered pipeline, live parameters, seed.

The panel holds the last good pipeline (an AugmentSpec) and emits sigPipelineChanged on
every change; the controller turns that into a window.submit(). Invalid spec text shows
its message in red and leaves the last good pipeline in place.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.augment.catalog import catalog_entry
from cnnviz.core.augment.spec import (
    AugmentSpec,
    SpecError,
    default_call,
    format_call,
    format_spec,
    make_call,
    parse_spec,
    to_python,
)
from cnnviz.qt.panels.adaptive import orient
from cnnviz.qt.panels.augment_params import ParamEditor, shown_value
from cnnviz.qt.panels.augment_widgets import (
    CatalogueToggles,
    SecondImagePicker,
    scrolled,
)
from cnnviz.qt.panels.flow import FlowLayout, labelled
from cnnviz.qt.panels.image_panel import ImageView
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.analysis import AnalysisResult

MAX_SEED = 2**31 - 1
# The panel's own generator: the worker seeds Python's global `random` while augmenting.
_SEEDS = random.Random()
_EMPTY_HINT = "Tick a transform on the left to add it to the pipeline."


class AugmentLabPanel(QWidget):
    """Build an augmentation pipeline from torchvision's own transforms and watch it live."""

    sigPipelineChanged = Signal()
    sigCopied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = AugmentSpec()
        self.seed = 0
        self.current_image: str | bytes | None = None  # the window's, for a different second
        self.error = ""
        self.editors: dict[str, ParamEditor] = {}
        self._theme = NORMAL
        self._flipped = False
        self.catalogue = CatalogueToggles()
        self.catalogue.sigToggled.connect(self.set_enabled)
        self.toggles = self.catalogue.toggles
        splitter = QSplitter(Qt.Horizontal)
        columns = (self.catalogue, self._build_pipeline(), self._build_params(), self._build_view())
        for i, (widget, stretch) in enumerate(zip(columns, (3, 3, 3, 2), strict=True)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(i, stretch)
        splitter.setSizes([380, 300, 340, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter, 1)
        layout.addLayout(self._build_spec_row())
        layout.addWidget(self.error_label)
        self._refresh(select=None)

    # --- construction -------------------------------------------------------------
    def _build_pipeline(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        self.pipeline_list = QListWidget()
        self.pipeline_list.setDragDropMode(QAbstractItemView.InternalMove)
        self.pipeline_list.setTextElideMode(Qt.ElideRight)
        self.pipeline_list.currentRowChanged.connect(self._show_editors)
        self.pipeline_list.model().rowsMoved.connect(self._on_rows_dragged)
        self.up_button = QToolButton()
        self.up_button.setText("▲")
        self.up_button.setToolTip("Run the selected transform earlier")
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button = QToolButton()
        self.down_button.setText("▼")
        self.down_button.setToolTip("Run the selected transform later")
        self.down_button.clicked.connect(lambda: self.move_selected(+1))
        self.remove_button = QPushButton("✕ Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        for button in (self.up_button, self.down_button):
            buttons.addWidget(button)
        buttons.addWidget(self.remove_button)
        self.mix_picker = SecondImagePicker()
        self.mix_picker.sigChosen.connect(self._on_second_chosen)
        title = QLabel("Pipeline (top runs first)")
        title.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(self.pipeline_list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.mix_picker)
        return panel

    def _build_params(self) -> QWidget:
        self.params_box = QGroupBox("Parameters")
        outer = QVBoxLayout(self.params_box)
        self.description = QLabel(_EMPTY_HINT)
        self.description.setWordWrap(True)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        scroll = scrolled(self.form_host)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(40)
        outer.addWidget(self.description)
        outer.addWidget(scroll, 1)
        return self.params_box

    def _build_view(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        self.image_view = ImageView("Augmented image")
        self.image_view.setMinimumSize(120, 100)
        self.outcome_label = QLabel("")
        self.outcome_label.setWordWrap(True)
        layout.addWidget(self.image_view, 1)
        layout.addWidget(self.outcome_label)
        return panel

    def _build_spec_row(self) -> QHBoxLayout:
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.valueChanged.connect(self._on_seed)
        self.reroll_button = QPushButton("Re-roll")
        self.reroll_button.setToolTip("Draw the random transforms again with a new seed")
        self.reroll_button.clicked.connect(self.reroll)
        self.fixed_box = QCheckBox("Fixed")
        self.fixed_box.setChecked(True)
        self.fixed_box.setToolTip(
            "On: every update reuses the seed, so random transforms stay pinned to one draw.\n"
            "Off: every update draws afresh."
        )
        self.spec_edit = QLineEdit()
        self.spec_edit.setPlaceholderText("e.g. RandomHorizontalFlip(p=1.0); RandomRotation(...)")
        self.spec_edit.setToolTip("The pipeline in torchvision's terms; edit and press Enter")
        self.spec_edit.returnPressed.connect(lambda: self.set_spec_text(self.spec_edit.text()))
        self.copy_button = QPushButton("Copy as Python")
        self.copy_button.setToolTip("Copy torchvision code for a training script")
        self.copy_button.clicked.connect(self.copy_python)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        seeds = FlowLayout()
        for widget in (labelled("Seed", self.seed_spin), self.reroll_button, self.fixed_box):
            seeds.addWidget(widget)
        spec = QHBoxLayout()
        spec.addWidget(QLabel("Spec"))
        spec.addWidget(self.spec_edit, 1)
        spec.addWidget(self.copy_button)
        # One row when the lab is wide, two when it is narrow (see resizeEvent).
        self._spec_rows = QBoxLayout(QBoxLayout.TopToBottom)
        self._spec_rows.addLayout(seeds)
        self._spec_rows.addLayout(spec, 1)
        return self._spec_rows

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        orient(self, self._spec_rows)

    # --- the pipeline ---------------------------------------------------------------
    def spec_text(self) -> str:
        """The current (last good) pipeline as canonical spec text."""
        return format_spec(self.spec)

    def needs_second_image(self) -> bool:
        """Whether the pipeline holds MixUp or CutMix."""
        return any(catalog_entry(c.name).needs_second_image for c in self.spec.calls)

    def set_spec_text(self, text: str) -> bool:
        """Apply spec text; on a SpecError show it and keep the last good pipeline."""
        try:
            spec = parse_spec(text)
        except SpecError as exc:
            self._show_error(str(exc))
            return False
        row = self.pipeline_list.currentRow()
        self._set_spec(spec, select=row if 0 <= row < len(spec) else (0 if len(spec) else None))
        return True

    def set_enabled(self, name: str, on: bool) -> None:
        """Append `name` with the lab defaults, or remove every call of it."""
        if on == (name in self.spec.names):
            return
        if on:
            calls = (*self.spec.calls, default_call(name))
            select = len(calls) - 1
        else:
            calls = tuple(c for c in self.spec.calls if c.name != name)
            select = min(self.pipeline_list.currentRow(), len(calls) - 1)
        self._set_spec(AugmentSpec(calls), select=select if select >= 0 else None)

    def move_selected(self, offset: int) -> None:
        """Move the selected transform up (-1) or down (+1) in the pipeline."""
        row = self.pipeline_list.currentRow()
        target = row + offset
        if row < 0 or not 0 <= target < len(self.spec):
            return
        calls = list(self.spec.calls)
        calls[row], calls[target] = calls[target], calls[row]
        self._set_spec(AugmentSpec(tuple(calls)), select=target)

    def remove_selected(self) -> None:
        """Take the selected transform out of the pipeline."""
        row = self.pipeline_list.currentRow()
        if row >= 0:
            calls = self.spec.calls[:row] + self.spec.calls[row + 1 :]
            self._set_spec(AugmentSpec(calls), select=min(row, len(calls) - 1) if calls else None)

    def _on_rows_dragged(self, *_: Any) -> None:
        lst = self.pipeline_list
        order = [lst.item(i).data(Qt.UserRole) for i in range(lst.count())]
        moved = lst.currentRow()
        spec = AugmentSpec(tuple(self.spec.calls[i] for i in order))
        self._set_spec(spec, select=moved if moved >= 0 else None)

    def _set_spec(self, spec: AugmentSpec, *, select: int | None) -> None:
        self.spec = spec
        if self.needs_second_image() and self.mix_picker.path() is None:
            self.mix_picker.pick_default(avoid=self.current_image)
        self._refresh(select)
        self.sigPipelineChanged.emit()

    def _refresh(self, select: int | None) -> None:
        """Show self.spec everywhere: toggles, list, editors, spec text."""
        self.catalogue.show_enabled(self.spec.names)
        lst = self.pipeline_list
        lst.blockSignals(True)
        lst.clear()
        for i in range(len(self.spec)):
            item = QListWidgetItem()
            item.setData(Qt.UserRole, i)
            lst.addItem(item)
            self._label_item(i)
        lst.setCurrentRow(-1 if select is None else select)
        lst.blockSignals(False)
        self._show_editors(lst.currentRow())
        self.mix_picker.setVisible(self.needs_second_image())
        self._show_spec_text()

    def _label_item(self, row: int) -> None:
        text = format_call(self.spec.calls[row])
        self.pipeline_list.item(row).setText(f"{row + 1}. {text}")
        self.pipeline_list.item(row).setToolTip(text)

    def _show_spec_text(self) -> None:
        self.spec_edit.setText(self.spec_text())
        self.spec_edit.setCursorPosition(0)
        self._show_error("")

    def _show_error(self, message: str) -> None:
        self.error = message
        self.error_label.setText(f"Spec not applied: {message}" if message else "")
        self.error_label.setVisible(bool(message))

    # --- parameters -------------------------------------------------------------------
    def _show_editors(self, row: int) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        if not 0 <= row < len(self.spec):
            self.params_box.setTitle("Parameters")
            self.description.setText(_EMPTY_HINT if not len(self.spec) else "Select a transform.")
            return
        call = self.spec.calls[row]
        info = catalog_entry(call.name)
        self.params_box.setTitle(f"Parameters of {row + 1}. {call.name}")
        self.description.setText(info.description)
        for p in info.params:
            editor = ParamEditor(p, shown_value(call, p))
            editor.sigChanged.connect(self._on_param)
            label = QLabel(p.name)
            label.setToolTip(p.help)
            self.form.addRow(label, editor)
            self.editors[p.name] = editor

    def _on_param(self, name: str, value: Any) -> None:
        row = self.pipeline_list.currentRow()
        if not 0 <= row < len(self.spec):
            return
        call = self.spec.calls[row]
        try:
            new = make_call(call.name, {**dict(call.kwargs), name: value})
        except SpecError as exc:
            self._show_error(str(exc))
            return
        # Only texts change: rebuilding the editors would pull a slider from under the mouse.
        self.spec = self.spec.replace_call(row, new)
        self._label_item(row)
        self._show_spec_text()
        self.sigPipelineChanged.emit()

    # --- seed and second image ------------------------------------------------------------
    def seed_for_update(self) -> int:
        """The seed for the next run: the fixed one, or a fresh draw when not fixed."""
        if not self.fixed_box.isChecked():
            self.seed = _SEEDS.randrange(MAX_SEED)
            self.seed_spin.blockSignals(True)
            self.seed_spin.setValue(self.seed)
            self.seed_spin.blockSignals(False)
        return self.seed

    def set_seed(self, seed: int, *, emit: bool = True) -> None:
        """Show and use `seed`; by default re-runs when the pipeline is not empty."""
        self.seed_spin.blockSignals(not emit)
        self.seed_spin.setValue(int(seed) % (MAX_SEED + 1))
        self.seed_spin.blockSignals(False)
        self.seed = self.seed_spin.value()

    def reroll(self) -> None:
        """A new random seed: random transforms draw again."""
        self.set_seed(_SEEDS.randrange(MAX_SEED))

    def _on_seed(self, value: int) -> None:
        self.seed = value
        if len(self.spec):
            self.sigPipelineChanged.emit()

    def mix_source(self) -> str | None:
        """The second image's path when the pipeline mixes, else None."""
        return self.mix_picker.path() if self.needs_second_image() else None

    def _on_second_chosen(self, _path: str) -> None:
        if self.needs_second_image():
            self.sigPipelineChanged.emit()

    # --- output ---------------------------------------------------------------------------
    def copy_python(self) -> None:
        """Copy the pipeline as torchvision code for a training script."""
        code = to_python(self.spec)
        QGuiApplication.clipboard().setText(code)
        self.sigCopied.emit(code)

    def show_result(self, result: AnalysisResult) -> None:
        """Show the augmented image (or the original, when the lab is off) and the outcome."""
        lab = result.lab
        self._flipped = bool(lab is not None and lab.top1_flipped)
        self._style_outcome()
        if lab is None:
            image = result.original
            self.image_view.set_image(image, "no augmentation" if image is not None else "")
            self.outcome_label.setText("")
            self.mix_picker.weights_label.setText("")
            return
        h, w = lab.augmented_size
        self.image_view.set_image(lab.augmented_image, f"{w}×{h} · seed {lab.seed}")
        self.outcome_label.setText(("⚠ " if self._flipped else "") + lab.summary_text())
        weights = ""
        if lab.mix_weights is not None:
            a, b = lab.mix_weights
            second = Path(self.mix_picker.path() or "second image").name
            weights = f"Label weights: {a:.1%} this image · {b:.1%} {second}"
        self.mix_picker.weights_label.setText(weights)

    def apply_theme(self, theme: Theme) -> None:
        """Re-colour the picture and the red texts for normal or presentation mode."""
        self._theme = theme
        self.image_view.apply_theme(theme)
        self.error_label.setStyleSheet(f"color: {theme.warning_bg}; font-weight: bold")
        self._style_outcome()

    def _style_outcome(self) -> None:
        warn = f"color: {self._theme.warning_bg}; font-weight: bold"
        self.outcome_label.setStyleSheet(warn if self._flipped else "")

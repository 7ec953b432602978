"""Parameter editors generated from the augmentation catalogue's ParamInfo entries.

Numbers get a slider and a spin box with the catalogue's range and step, bools a check
box, choices a combo box, ranges two number rows (lo, hi) that can be locked together,
sizes one number or height × width. Optional parameters get an "on" box (off = None).
An editor only reports values the user set; it never rewrites a value it merely shows.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.augment.catalog import REQUIRED, ParamInfo, range_from_scalar, torchvision_defaults
from cnnviz.core.augment.spec import TransformCall

_POINT_PAIRS = frozenset({"translate", "center"})
_SLIDER_SIZE_CAP = 1024  # sizes go to 4096; a slider that long is useless


def _decimals(step: float) -> int:
    text = f"{step:.6g}"
    return len(text.split(".")[1]) if "." in text else 0


class NumberRow(QWidget):
    """A slider and a spin box showing one number; emits when the user moves either."""

    sigValueChanged = Signal(float)

    def __init__(
        self,
        lo: float,
        hi: float,
        step: float,
        integer: bool,
        value: float,
        slider_hi: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.lo, self.step, self.integer = lo, step, integer
        self.decimals = 0 if integer else max(1, _decimals(step))
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, max(1, round((min(hi, slider_hi or hi) - lo) / step)))
        self.spin = QSpinBox() if integer else QDoubleSpinBox()
        if not integer:
            self.spin.setDecimals(self.decimals)
        self.spin.setRange(int(lo) if integer else lo, int(hi) if integer else hi)
        self.spin.setSingleStep(int(step) if integer else step)
        self.spin.setKeyboardTracking(False)  # typing "30" must not run "3" first
        self.spin.setMinimumWidth(80)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self._value = float(value)
        self.set_value(value)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> float:
        """The number shown (exactly as given, until the user changes it)."""
        return int(round(self._value)) if self.integer else self._value

    def set_value(self, value: float) -> None:
        """Show `value` without emitting."""
        self._value = float(value)
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
        self.slider.setValue(round((self._value - self.lo) / self.step))
        self.spin.setValue(int(round(value)) if self.integer else float(value))
        for widget in (self.slider, self.spin):
            widget.blockSignals(False)

    def _from_slider(self, position: int) -> None:
        value = self.lo + position * self.step
        value = round(value) if self.integer else round(value, self.decimals)
        self._set_from_user(value)

    def _from_spin(self, value: float) -> None:
        self._set_from_user(value)

    def _set_from_user(self, value: float) -> None:
        self.set_value(value)
        self.sigValueChanged.emit(self._value)


def shown_value(call: TransformCall, p: ParamInfo) -> Any:
    """The value a parameter has in `call`: given, else torchvision's default, else the lab's."""
    given = dict(call.kwargs)
    if p.name in given:
        value = given[p.name]
    else:
        value = torchvision_defaults(call.name).get(p.name, REQUIRED)
        value = p.default if value is REQUIRED else getattr(value, "value", value)
    if p.kind == "range" and isinstance(value, (int, float)) and p.scalar_ok:
        return range_from_scalar(p, value)
    if isinstance(value, list):
        return tuple(value)
    return value


def _switched_on(p: ParamInfo) -> Any:
    """A value for an optional parameter the user switches on (its default may be None)."""
    if p.default is not None:
        return p.default
    lo, hi = p.min or 0, p.max or 0
    start = 0 if lo <= 0 <= hi else (lo + hi) // 2
    return (float(start), float(start)) if p.kind == "range" else int(start)


class ParamEditor(QWidget):
    """The editor for one parameter; emits (name, value) when the user changes it."""

    sigChanged = Signal(str, object)

    def __init__(self, param: ParamInfo, value: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.setToolTip(param.help)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.enabled_box: QCheckBox | None = None
        if param.optional:
            self.enabled_box = QCheckBox("on")
            self.enabled_box.setToolTip("off: None (torchvision skips this)")
            self.enabled_box.setChecked(value is not None)
            self.enabled_box.toggled.connect(self._on_enabled)
            layout.addWidget(self.enabled_box)
        self.body = QWidget()
        self.rows: list[NumberRow] = []
        self.check: QCheckBox | None = None
        self.combo: QComboBox | None = None
        self.link: QCheckBox | None = None
        self._build_body(value if value is not None else _switched_on(param))
        self.body.setEnabled(value is not None)
        layout.addWidget(self.body, 1)

    # --- building -----------------------------------------------------------------
    def _build_body(self, value: Any) -> None:
        p = self.param
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        if p.kind == "bool":
            self.check = QCheckBox()
            self.check.setChecked(bool(value))
            self.check.toggled.connect(self._emit)
            layout.addWidget(self.check)
        elif p.kind == "choice":
            self.combo = QComboBox()
            for choice in p.choices:
                self.combo.addItem(str(choice), choice)
            self.combo.setCurrentIndex(max(0, self.combo.findData(value)))
            self.combo.currentIndexChanged.connect(self._emit)
            layout.addWidget(self.combo)
        elif p.kind in ("float", "int"):
            layout.addWidget(self._row(float(value)))
        elif p.kind == "range":
            lo, hi = value
            layout.addWidget(self._row(lo))
            layout.addWidget(self._row(hi))
            if p.name not in _POINT_PAIRS:
                self.link = QCheckBox("exact (lo = hi)")
                self.link.setToolTip("Lock both ends together: no random draw")
                self.link.setChecked(lo == hi)
                self.link.toggled.connect(self._on_link)
                layout.addWidget(self.link)
        elif p.kind == "size":
            h, w = (value, value) if isinstance(value, int) else (value[0], value[-1])
            self.link = QCheckBox("square")
            self.link.setToolTip("One number for height and width")
            self.link.setChecked(isinstance(value, int) or len(value) == 1)
            layout.addWidget(self._row(h))
            layout.addWidget(self._row(w))
            layout.addWidget(self.link)
            self.rows[1].setVisible(not self.link.isChecked())
            self.link.toggled.connect(self._on_square)
        else:
            raise AssertionError(f"unknown parameter kind {p.kind!r}")

    def _row(self, value: float) -> NumberRow:
        p = self.param
        integer = p.kind in ("int", "size")
        lo = p.min if p.min is not None else -1e6
        hi = p.max if p.max is not None else 1e6
        step = p.step or (1 if integer else 0.01)
        cap = None
        if p.kind == "size":
            cap = min(hi, max(_SLIDER_SIZE_CAP, value * 2))
        row = NumberRow(lo, hi, step, integer, value, cap)
        row.sigValueChanged.connect(lambda v, r=row: self._on_number(r, v))
        self.rows.append(row)
        return row

    # --- reading and reacting -------------------------------------------------------
    def value(self) -> Any:
        """The value to write into the call (None when an optional parameter is off)."""
        p = self.param
        if self.enabled_box is not None and not self.enabled_box.isChecked():
            return None
        if self.check is not None:
            return self.check.isChecked()
        if self.combo is not None:
            return self.combo.currentData()
        if p.kind == "size":
            h, w = (r.value() for r in self.rows)
            return h if self.link.isChecked() else (h, w)
        if p.kind == "range":
            return (self.rows[0].value(), self.rows[1].value())
        return self.rows[0].value()

    def _on_number(self, row: NumberRow, value: float) -> None:
        p = self.param
        if p.kind == "range" and len(self.rows) == 2:
            lo_row, hi_row = self.rows
            other = hi_row if row is lo_row else lo_row
            linked = self.link is not None and self.link.isChecked()
            if linked:
                other.set_value(value)
            elif p.name not in _POINT_PAIRS and lo_row.value() > hi_row.value():
                other.set_value(value)  # keep lo <= hi: push the other end along
        self._emit()

    def _on_link(self, on: bool) -> None:
        if on and len(self.rows) == 2:
            self.rows[1].set_value(self.rows[0].value())
            self._emit()

    def _on_square(self, on: bool) -> None:
        self.rows[1].setVisible(not on)
        self._emit()

    def _on_enabled(self, on: bool) -> None:
        self.body.setEnabled(on)
        self._emit()

    def _emit(self, *_: Any) -> None:
        self.sigChanged.emit(self.param.name, self.value())

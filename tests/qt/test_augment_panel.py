"""The augmentation lab panel driven through its real widgets, without a model."""

from __future__ import annotations

import math
import os
import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from cnnviz.core.augment.catalog import CATALOG
from cnnviz.core.augment.spec import default_call, format_call, parse_spec, to_python
from cnnviz.qt.panels.augment_panel import AugmentLabPanel


@pytest.fixture
def panel(qtbot):
    widget = AugmentLabPanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 360)
    widget.show()
    return widget


def _close(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), abs_tol=1e-9)
    return a == b


def _list_texts(panel) -> list[str]:
    return [panel.pipeline_list.item(i).text() for i in range(panel.pipeline_list.count())]


def test_toggles_build_an_ordered_pipeline(qtbot, panel):
    changes = []
    panel.sigPipelineChanged.connect(lambda: changes.append(panel.spec_text()))
    panel.toggles["RandomRotation"].click()
    panel.toggles["RandomHorizontalFlip"].click()
    expected = "RandomRotation(degrees=[-30.0, 30.0]); RandomHorizontalFlip(p=1.0)"
    assert panel.spec_edit.text() == expected and changes[-1] == expected and len(changes) == 2
    assert _list_texts(panel) == [
        "1. RandomRotation(degrees=[-30.0, 30.0])",
        "2. RandomHorizontalFlip(p=1.0)",
    ]
    assert panel.params_box.title() == "Parameters of 2. RandomHorizontalFlip"
    panel.up_button.click()  # the newly added (selected) flip moves first
    assert panel.spec_text() == "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[-30.0, 30.0])"
    assert panel.pipeline_list.currentRow() == 0
    panel.toggles["RandomRotation"].click()  # unticking removes it
    assert panel.spec_text() == "RandomHorizontalFlip(p=1.0)"
    assert not panel.toggles["RandomRotation"].isChecked()
    panel.remove_button.click()
    assert panel.spec_text() == "" and not panel.toggles["RandomHorizontalFlip"].isChecked()


def _poke(editor):
    """Change an editor through its widgets the way a user would."""
    p = editor.param
    if editor.enabled_box is not None and not editor.enabled_box.isChecked():
        editor.enabled_box.click()
    elif editor.check is not None:
        editor.check.click()
    elif editor.combo is not None:
        editor.combo.setCurrentIndex((editor.combo.currentIndex() + 1) % editor.combo.count())
    elif p.kind == "size":
        editor.link.click()  # square ⇄ height × width
    else:
        row = editor.rows[-1]
        slider = row.slider
        slider.setValue(
            slider.value() - 1 if slider.value() == slider.maximum() else slider.value() + 1
        )
    return True


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.name)
def test_every_generated_editor_writes_what_it_shows(panel, entry):
    assert panel.set_spec_text(format_call(default_call(entry.name)))
    assert set(panel.editors) == set(entry.param_names)
    for p in entry.params:
        editor = panel.editors[p.name]
        before = panel.spec
        _poke(editor)
        assert not panel.error, panel.error
        assert panel.spec != before, p.name
        written = panel.spec.calls[0].get(p.name, "missing")
        assert _close(written, editor.value()), (p.name, written, editor.value())
        if p.kind in ("float", "int"):
            assert _close(editor.rows[0].spin.value(), written)
        assert parse_spec(panel.spec_edit.text()) == panel.spec


def test_range_editor_locks_and_keeps_lo_below_hi(panel):
    panel.toggles["RandomRotation"].click()
    editor = panel.editors["degrees"]
    lo, hi = editor.rows
    assert (lo.spin.value(), hi.spin.value()) == (-30.0, 30.0) and not editor.link.isChecked()
    editor.link.click()
    assert panel.spec_text() == "RandomRotation(degrees=[-30.0, -30.0])"
    lo.slider.setValue(lo.slider.value() + 75)  # one degree per slider step
    assert panel.spec_text() == "RandomRotation(degrees=[45.0, 45.0])"
    assert hi.spin.value() == 45.0
    editor.link.click()
    hi.spin.setValue(10.0)  # below lo: lo follows down
    assert panel.spec_text() == "RandomRotation(degrees=[10.0, 10.0])"
    hi.spin.setValue(20.0)
    assert panel.spec_text() == "RandomRotation(degrees=[10.0, 20.0])"


def test_shown_values_are_not_rewritten_until_edited(panel):
    assert panel.set_spec_text("RandomResizedCrop(size=224, ratio=[0.75, 1.3333333333333333])")
    ratio = panel.editors["ratio"]
    assert ratio.rows[1].spin.value() == pytest.approx(1.33)  # two decimals shown
    panel.editors["scale"].rows[0].slider.setValue(9)  # 0.01 + 9 steps of 0.01
    assert panel.spec.calls[0].get("ratio") == (0.75, 4 / 3)
    assert panel.spec.calls[0].get("scale") == (0.1, 1.0)


def test_invalid_text_names_the_bad_part_and_keeps_the_pipeline(qtbot, panel):
    assert panel.set_spec_text("RandomInvert(p=1.0)")
    good = panel.spec
    panel.spec_edit.clear()
    qtbot.keyClicks(panel.spec_edit, "RandomRotation(degrees=[30, 30]); Bogus(x=1)")
    with qtbot.assertNotEmitted(panel.sigPipelineChanged):
        qtbot.keyClick(panel.spec_edit, Qt.Key_Return)
    assert panel.error_label.isVisible()
    assert "Bogus" in panel.error_label.text() and "part 2" in panel.error_label.text()
    assert panel.spec == good and panel.toggles["RandomInvert"].isChecked()
    assert not panel.set_spec_text("RandomRotation(degrees=[30, 10])")
    assert "lo <= hi" in panel.error_label.text()
    with qtbot.waitSignal(panel.sigPipelineChanged):
        assert panel.set_spec_text("v2.RandomRotation(degrees=[30, 30])")
    assert panel.error_label.isHidden() and panel.toggles["RandomRotation"].isChecked()
    assert panel.spec_edit.text() == "RandomRotation(degrees=[30.0, 30.0])"


def test_an_editor_value_torchvision_rejects_shows_the_message(panel):
    panel.toggles["RandAugment"].click()
    magnitude = panel.editors["magnitude"]
    magnitude.rows[0].spin.setValue(40)  # above num_magnitude_bins (31)
    assert "magnitude (40) must be below num_magnitude_bins (31)" in panel.error_label.text()
    assert panel.spec.calls[0].get("magnitude") is None  # the last good call stays


def test_seed_fixed_reroll_and_fresh_draws(qtbot, panel):
    panel.toggles["RandomRotation"].click()
    panel.set_seed(5, emit=False)
    assert panel.seed_for_update() == panel.seed_for_update() == 5
    with qtbot.waitSignal(panel.sigPipelineChanged):
        panel.reroll_button.click()
    rerolled = panel.seed
    assert rerolled == panel.seed_spin.value()
    panel.fixed_box.click()
    draws = {panel.seed_for_update() for _ in range(5)}
    assert len(draws) > 1 and panel.seed_spin.value() in draws


def test_mixing_offers_a_second_image_and_copies_python(
    qtbot, panel, samples_dir, monkeypatch, tmp_path
):
    first_sample = panel.mix_picker.combo.itemData(0)
    panel.current_image = os.path.relpath(first_sample)  # spelled differently, same file
    assert panel.mix_picker.isHidden() and panel.mix_source() is None
    panel.toggles["MixUp"].click()
    assert panel.mix_picker.isVisible()
    chosen = panel.mix_source()
    assert chosen is not None and chosen != first_sample
    other = str(tmp_path / "mine.jpg")  # not a bundled sample: added to the picker
    shutil.copy(samples_dir / "coffee.jpg", other)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (other, ""))
    with qtbot.waitSignal(panel.sigPipelineChanged):
        panel.mix_picker.button.click()
    assert panel.mix_source() == other
    panel.toggles["RandomHorizontalFlip"].click()
    panel.copy_button.click()
    code = QGuiApplication.clipboard().text()
    assert code == to_python(parse_spec(panel.spec_edit.text()))
    assert "v2.RandomHorizontalFlip(p=1.0)" in code and "v2.MixUp(" in code

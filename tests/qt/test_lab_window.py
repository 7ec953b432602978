"""The augmentation lab in the real window: widgets → worker → predictions, sweeps, cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from qt_helpers import RESULT_TIMEOUT_MS, stop_window, wait_for_result
from torchvision.transforms.v2 import functional as F

from cnnviz.core.images import load_image
from cnnviz.qt.augment_controller import install_augment_lab


@pytest.fixture
def window(qtbot, tmp_path, samples_dir):
    """The real window on the cat photo in its Augment workspace, where the lab lives."""
    from qt_helpers import make_window

    w = make_window(
        qtbot, tmp_path, image=str(samples_dir / "cat.jpg"), device="cpu", workspace="Augment"
    )
    yield w
    stop_window(w)


@pytest.fixture
def cat(samples_dir) -> torch.Tensor:
    return F.pil_to_tensor(load_image(samples_dir / "cat.jpg"))


def _table(window) -> list[list[str]]:
    table = window.predictions.table
    return [
        [table.item(i, j).text() for j in range(table.columnCount())]
        for i in range(table.rowCount())
    ]


def _wait_for_spec(qtbot, window, spec: str):
    def shown():
        lab = getattr(window.shown_result, "lab", None)
        return lab is not None and lab.spec_text == spec

    qtbot.waitUntil(shown, timeout=RESULT_TIMEOUT_MS)
    return window.shown_result


def test_widgets_drive_live_predictions(qtbot, window, lite_engine, cat):
    lab = install_augment_lab(window).lab
    assert install_augment_lab(window).lab is lab  # installing twice changes nothing
    result = wait_for_result(qtbot, window, lab.toggles["RandomHorizontalFlip"].click)
    assert result.lab.spec_text == lab.spec_edit.text() == "RandomHorizontalFlip(p=1.0)"
    expected = lite_engine.predict(F.horizontal_flip(cat))
    header = window.predictions.table.horizontalHeaderItem(3).text()
    rows = _table(window)
    assert header == "Change" and [r[1] for r in rows] == [c.label for c in expected.top]
    assert [r[3] for r in rows] == [r.change_text() for r in result.lab.rows]
    assert np.allclose(result.prediction.probabilities, expected.probabilities, atol=1e-5)
    assert "KL" in window.predictions.note.text()

    lab.toggles["RandomRotation"].click()
    degrees = lab.editors["degrees"]
    degrees.link.click()  # lo = hi: an exact angle
    before = window.requests_sent
    for position in (200, 210, 220):  # a drag: three moves within one event-loop turn
        degrees.rows[0].slider.setValue(position)  # -180 + position degrees
    shown = _wait_for_spec(
        qtbot, window, "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[40.0, 40.0])"
    )
    assert window.requests_sent == before + 1  # coalesced into one request
    by_hand = F.rotate(F.horizontal_flip(cat), 40.0)
    assert np.array_equal(lab.image_view.image, by_hand.permute(1, 2, 0).numpy())
    assert np.allclose(
        shown.prediction.probabilities, lite_engine.predict(by_hand).probabilities, atol=1e-5
    )
    assert shown.lab.summary_text() in window.predictions.note.text()
    assert lab.outcome_label.text().endswith(shown.lab.summary_text())

    lab.toggles["MixUp"].click()
    mixed = _wait_for_spec(qtbot, window, lab.spec_text())
    a, b = mixed.lab.mix_weights
    assert f"{a:.1%} this image" in lab.mix_picker.weights_label.text() and a + b == pytest.approx(
        1
    )


def test_invalid_spec_keeps_the_last_good_result(qtbot, window):
    controller = install_augment_lab(window)
    lab = controller.lab
    assert controller.set_spec("RandomVerticalFlip(p=1.0)", seed=9)
    good = _wait_for_spec(qtbot, window, "RandomVerticalFlip(p=1.0)")
    assert good.lab.seed == 9
    lab.spec_edit.clear()
    qtbot.keyClicks(lab.spec_edit, "RandomVerticalFlip(p=1.0); ColorJitter(brightness=-1)")
    with qtbot.assertNotEmitted(window.sigResultShown, wait=400):
        qtbot.keyClick(lab.spec_edit, Qt.Key_Return)
    assert lab.error_label.isVisible() and "ColorJitter: brightness" in lab.error_label.text()
    assert window.shown_result is good and lab.spec_text() == "RandomVerticalFlip(p=1.0)"
    assert not controller.set_spec("Nope()")
    assert "unknown transform 'Nope'" in window.error_banner.text()


def test_sweep_plot_stability_and_cancel(qtbot, window, lite_engine, cat):
    controller = install_augment_lab(window)
    sweeps = controller.sweeps
    assert controller.set_spec("RandomRotation(degrees=[-30, 30])", seed=1)
    _wait_for_spec(qtbot, window, "RandomRotation(degrees=[-30.0, 30.0])")
    assert sweeps.param_combo.currentText() == "degrees"
    assert (sweeps.lo_spin.value(), sweeps.hi_spin.value()) == (-30.0, 30.0)
    sweeps.steps_spin.setValue(4)
    sweeps.run_button.click()
    qtbot.waitUntil(lambda: sweeps.outcome is not None, timeout=RESULT_TIMEOUT_MS)
    out = sweeps.outcome
    assert np.allclose(out.values, [-30, -10, 10, 30]) and not out.cancelled
    for k, curve in enumerate(sweeps.curves):
        x, y = curve.getData()
        assert np.allclose(x, out.values) and np.allclose(y, out.probabilities[:, k])
    assert [curve.name() for curve in sweeps.curves] == list(out.labels)
    for value, row in zip(out.values, out.probabilities, strict=True):  # by hand, one at a time
        expected = lite_engine.predict(F.rotate(cat, float(value))).probabilities
        assert np.allclose(row, expected[list(out.indices)], atol=1e-5)

    sweeps.tabs.setCurrentIndex(1)
    sweeps.samples_spin.setValue(5)
    sweeps.stability_button.click()
    qtbot.waitUntil(lambda: sweeps.stability is not None, timeout=RESULT_TIMEOUT_MS)
    counts = [int(sweeps.table.item(i, 1).text()) for i in range(sweeps.table.rowCount())]
    assert sum(counts) == 5 and counts == sorted(counts, reverse=True)

    sweeps.steps_spin.setValue(80)
    sweeps.run_button.click()
    qtbot.waitUntil(lambda: sweeps.progress.value() > 0, timeout=RESULT_TIMEOUT_MS)
    assert sweeps.cancel_button.isEnabled()
    sweeps.cancel_button.click()
    qtbot.waitUntil(lambda: sweeps.outcome is not out, timeout=RESULT_TIMEOUT_MS)
    assert sweeps.outcome.cancelled and 0 < len(sweeps.outcome.values) < 80
    assert len(sweeps.curves[0].getData()[0]) == len(sweeps.outcome.values)
    assert "cancelled" in sweeps.sweep_note.text() and not sweeps.cancel_button.isEnabled()


def test_a_spec_given_before_start_is_in_the_first_request(qtbot, tmp_path, samples_dir):
    from PySide6.QtCore import QSettings

    from cnnviz.qt.main_window import MainWindow, StartOptions

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    window = MainWindow(StartOptions(image=str(samples_dir / "cat.jpg"), device="cpu"), settings)
    qtbot.addWidget(window)
    controller = install_augment_lab(window)
    assert controller.lab is None  # nothing heavy is built before the window starts
    mix = str(samples_dir / "coffee.jpg")
    assert controller.set_spec("RandomInvert(p=1.0); CutMix()", seed=4, mix=mix)
    window.show()
    try:
        result = wait_for_result(qtbot, window, window.start)
        assert result.lab.spec_text == "RandomInvert(p=1.0); CutMix()" and result.lab.seed == 4
        assert result.lab.mix_weights is not None and controller.lab.mix_source() == mix
        assert window.requests_sent == 1  # no second run for the same input
        assert controller.lab.toggles["RandomInvert"].isChecked()
        assert controller.sweeps.transform_combo.currentText() == "1. RandomInvert"
    finally:
        stop_window(window)


def test_a_slider_move_during_a_sweep_is_answered_first_and_esc_stops_only_the_sweep(
    qtbot, window, lite_engine, cat
):
    controller = install_augment_lab(window)
    lab, sweeps = controller.lab, controller.sweeps
    assert controller.set_spec("RandomRotation(degrees=[10, 10])", seed=2)
    _wait_for_spec(qtbot, window, "RandomRotation(degrees=[10.0, 10.0])")
    sweeps.steps_spin.setValue(200)  # 25 batches: many seconds on this CPU
    sweeps.run_button.click()
    qtbot.waitUntil(lambda: sweeps.progress.value() > 0, timeout=RESULT_TIMEOUT_MS)

    # A slider move while the sweep runs: its result is on screen before the sweep ends.
    degrees = lab.editors["degrees"]
    degrees.rows[0].slider.setValue(180 + 25)  # -180 + position degrees: lo = 25
    degrees.rows[1].slider.setValue(180 + 25)
    shown = _wait_for_spec(qtbot, window, "RandomRotation(degrees=[25.0, 25.0])")
    assert sweeps.outcome is None and sweeps.cancel_button.isEnabled()  # still sweeping
    expected = lite_engine.predict(F.rotate(cat, 25.0)).probabilities
    np.testing.assert_allclose(shown.prediction.probabilities, expected, atol=1e-5)

    # Esc with a live update on its way: the sweep stops, the live update still arrives.
    degrees.rows[0].slider.setValue(180 + 35)
    degrees.rows[1].slider.setValue(180 + 35)
    qtbot.keyClick(window, Qt.Key_Escape)
    qtbot.waitUntil(lambda: sweeps.outcome is not None, timeout=RESULT_TIMEOUT_MS)
    assert sweeps.outcome.cancelled and len(sweeps.outcome.values) < 200
    live = _wait_for_spec(qtbot, window, "RandomRotation(degrees=[35.0, 35.0])")
    assert live.lab is not None and not window.error_banner.isVisible()

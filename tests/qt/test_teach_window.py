"""The Teach workspace in the real window: each view through its real widgets."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import Qt
from qt_helpers import RESULT_TIMEOUT_MS, stop_window, wait_for_result

from cnnviz.core.augment.spec import parse_spec
from cnnviz.core.images import load_image
from cnnviz.core.teach.policy import drawn_in_pipeline
from cnnviz.qt.augment_controller import install_augment_lab
from cnnviz.qt.teach_controller import install_teach

SHOTS = os.environ.get("CNNVIZ_SHOTS")  # a folder: save screenshots there to look at


@pytest.fixture
def window(qtbot, tmp_path, samples_dir):
    from qt_helpers import make_window

    w = make_window(
        qtbot, tmp_path, image=str(samples_dir / "cat.jpg"), device="cpu", workspace="Teach"
    )
    w.resize(1400, 900)
    yield w
    stop_window(w)


def _shot(window, name: str) -> None:
    if SHOTS:
        window.grab().save(os.path.join(SHOTS, f"teach-{name}.png"))


def _stripes(root):
    from PIL import Image

    rng = np.random.default_rng(2)
    for name, vertical in (("horizontal", False), ("vertical", True)):
        (root / name).mkdir()
        for i in range(8):
            period = int(rng.integers(6, 16))
            ramp = ((np.arange(64) + int(rng.integers(0, period))) % period) < period / 2
            mask = np.tile(ramp, (64, 1)) if vertical else np.tile(ramp[:, None], (1, 64))
            img = np.where(mask[..., None], rng.integers(0, 256, 3), rng.integers(0, 256, 3))
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i}.png")


def test_teach_views_follow_the_shown_image(qtbot, window, lite_engine, samples_dir):
    teach = install_teach(window)
    assert install_teach(window) is teach and window.workspace == "Teach"
    panel = teach.panel
    cat = load_image(samples_dir / "cat.jpg")

    # Preprocessing: the strip's last tensor is the engine's model input.
    panel.tabs.setCurrentWidget(panel.preprocess)
    qtbot.waitUntil(lambda: panel.preprocess.strip is not None, timeout=RESULT_TIMEOUT_MS)
    strip = panel.preprocess.strip
    np.testing.assert_array_equal(strip.tensor, lite_engine.to_tensor(cat).numpy())
    top, left, h, w = strip.crop_box
    rect = panel.preprocess.box.rect()
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (left, top, w, h)
    assert "bicubic" in panel.preprocess.text.text()
    _shot(window, "preprocess")

    # Batch norm: the model's BatchNorm2d layers are offered; a channel's stats are shown.
    panel.tabs.setCurrentWidget(panel.batchnorm)
    qtbot.waitUntil(lambda: panel.batchnorm.view is not None, timeout=RESULT_TIMEOUT_MS)
    assert panel.batchnorm.layer_combo.count() == 49
    panel.batchnorm.channel_spin.setValue(5)
    view = panel.batchnorm.view
    assert f"running mean {view.running_mean[5]:.4f}" in panel.batchnorm.stats.text()
    assert view.layer_output_max_error < 1e-4
    _shot(window, "batchnorm")

    # Residual add: x + F(x) is the add node's own output.
    panel.tabs.setCurrentWidget(panel.residual)
    qtbot.waitUntil(lambda: panel.residual.view is not None, timeout=RESULT_TIMEOUT_MS)
    rv = panel.residual.view
    assert rv.node == panel.residual.node_combo.currentText()
    np.testing.assert_allclose(rv.total, rv.node_output, atol=1e-5)
    assert "‖F(x)‖" in panel.residual.norms.text()
    _shot(window, "residual")

    # Pre-trained vs random: the first conv's filters, the engine's own on the left.
    panel.tabs.setCurrentWidget(panel.pretrained)
    qtbot.waitUntil(lambda: panel.pretrained.result is not None, timeout=RESULT_TIMEOUT_MS)
    pr = panel.pretrained.result
    assert pr.layer == panel.pretrained.layer_combo.itemText(0) == "features.0.conv"
    trained_w = lite_engine.model.features[0].conv.weight.detach()[:16].numpy()
    np.testing.assert_array_equal(pr.trained.filters, trained_w)
    assert pr.random.filters.shape == trained_w.shape
    assert panel.pretrained.views[("random", "filters")].image.ndim == 3  # RGB pictures
    _shot(window, "pretrained")

    # Dropout: train-mode passes at p = 0.5 through the real buttons.
    panel.tabs.setCurrentWidget(panel.dropout)
    dv = panel.dropout
    dv.passes_spin.setValue(8)
    dv.override_check.setChecked(True)
    dv.p_spin.setValue(0.5)
    qtbot.mouseClick(dv.run_row.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: dv.outcome is not None, timeout=RESULT_TIMEOUT_MS)
    outcome = dv.outcome
    assert outcome.passes.done == 8 and dv.table.rowCount() == 5
    assert outcome.passes.pass_probabilities[:, 0].std() > 0  # train mode varies
    assert outcome.dropout.scale == pytest.approx(2.0) and "2.000" in dv.mask_text.text()
    eval_top = window.shown_result.prediction.top[0]
    assert dv.table.item(0, 0).text() == eval_top.label
    _shot(window, "dropout")


def test_policy_draws_and_fine_tune(qtbot, window, samples_dir, tmp_path):
    teach = install_teach(window)
    panel = teach.panel
    panel.tabs.setCurrentWidget(panel.policy)
    qtbot.waitUntil(lambda: "no random policy" in panel.policy.text.text(), timeout=5000)
    lab = install_augment_lab(window)
    wait_for_result(qtbot, window, lambda: lab.set_spec("TrivialAugmentWide(); AugMix()", seed=4))
    qtbot.waitUntil(lambda: len(panel.policy.draws) == 2, timeout=RESULT_TIMEOUT_MS)
    expected = drawn_in_pipeline(
        parse_spec("TrivialAugmentWide(); AugMix()"), load_image(samples_dir / "cat.jpg"), seed=4
    )
    assert [d.summary() for d in panel.policy.draws] == [d.summary() for d in expected]
    assert panel.policy.table.rowCount() == sum(len(d.ops) for d in expected)
    _shot(window, "policy")

    # The lab's random crop, drawn on the original in the preprocessing strip.
    pre = panel.preprocess
    wait_for_result(qtbot, window, lambda: lab.set_spec("RandomResizedCrop(size=[224, 224])", 1))
    panel.tabs.setCurrentWidget(pre)
    qtbot.waitUntil(
        lambda: pre.outcome is not None and len(pre.outcome.lab_crops) == 1,
        timeout=RESULT_TIMEOUT_MS,
    )
    box = pre.outcome.lab_crops[0]
    rect = pre.lab_boxes[0].rect()
    assert pre.lab_view.isVisible() and box.on_original
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (
        box.left,
        box.top,
        box.width,
        box.height,
    )
    assert pre.strip.original.shape[:2] == (224, 224)  # the strip starts from the crop
    _shot(window, "labcrop")
    lab.set_spec("")  # back to the plain image

    # A hidden workspace does no work.
    window.show_workspace("Classify")
    before = dict(teach.tickets)
    wait_for_result(qtbot, window, lambda: window.open_image(str(samples_dir / "dahlia.jpg")))
    assert teach.tickets == before
    window.show_workspace("Teach")

    # Fine-tune on generated stripes, then predict the new classes in the main view.
    data = tmp_path / "stripes"
    data.mkdir()
    _stripes(data)
    ft = panel.finetune
    panel.tabs.setCurrentWidget(ft)
    ft.folder_edit.setText(str(data))
    ft.epochs_spin.setValue(80)
    qtbot.mouseClick(ft.run_row.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: ft.result is not None, timeout=RESULT_TIMEOUT_MS)
    assert ft.result.train_accuracy == 1.0 and ft.result.heldout_accuracy >= 0.75
    assert ft.use_button.isEnabled()
    _shot(window, "finetune")
    result = wait_for_result(qtbot, window, lambda: qtbot.mouseClick(ft.use_button, Qt.LeftButton))
    assert {c.label for c in result.prediction.top} == {"horizontal", "vertical"}

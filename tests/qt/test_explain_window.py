"""The Explain workspace in the real window: click a class, flip, drag the occluder, sanity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import RESULT_TIMEOUT_MS, make_window, stop_window
from scipy.stats import spearmanr
from torchvision.transforms.v2 import functional as F

from cnnviz.core.explain import METHOD_TITLES, explain
from cnnviz.core.images import load_image
from cnnviz.qt.augment_controller import install_augment_lab
from cnnviz.qt.explain_controller import install_explain
from cnnviz.qt.panels.explain_panel import METHODS


@pytest.fixture
def window(qtbot, tmp_path, samples_dir):
    """The real window on the cat photo, opened in its Explain workspace."""
    w = make_window(
        qtbot, tmp_path, image=str(samples_dir / "cat.jpg"), device="cpu", workspace="Explain"
    )
    yield w
    stop_window(w)


@pytest.fixture(scope="module")
def cat(samples_dir) -> torch.Tensor:
    return F.pil_to_tensor(load_image(samples_dir / "cat.jpg"))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _wait_view(qtbot, panel, check):
    qtbot.waitUntil(lambda: panel.view is not None and check(panel.view), timeout=RESULT_TIMEOUT_MS)
    return panel.view


def _drag(qtbot, widget, start: QPointF, end: QPointF, steps: int = 6) -> None:
    """A left-button drag with the mouse, as Qt delivers it to a graphics view."""
    viewport = widget.viewport()
    a, b = widget.mapFromScene(start), widget.mapFromScene(end)

    def send(kind: QEvent.Type, at: QPoint, buttons) -> None:
        global_at = viewport.mapToGlobal(at)
        event = QMouseEvent(
            kind, QPointF(at), QPointF(global_at), Qt.LeftButton, buttons, Qt.NoModifier
        )
        QApplication.sendEvent(viewport, event)

    send(QEvent.MouseButtonPress, a, Qt.LeftButton)
    for i in range(1, steps + 1):
        at = a + (b - a) * (i / steps)
        send(QEvent.MouseMove, at, Qt.LeftButton)
        qtbot.wait(20)
    send(QEvent.MouseButtonRelease, b, Qt.NoButton)


def test_panel_methods_are_the_cores():
    assert dict(METHODS) == METHOD_TITLES


def test_click_a_class_flip_and_drag_the_occluder(qtbot, window, lite_engine, cat):
    controller = install_explain(window)
    assert install_explain(window) is controller and window.workspace == "Explain"
    panel = controller.panel
    first = _wait_view(qtbot, panel, lambda v: True)
    assert first.class_index == first.top[0].index  # the top-1 by default
    before = panel.single.heat.copy()

    # Click the third row of the top-5 list: that class is explained.
    item = panel.top_list.item(2)
    wanted = int(item.data(Qt.UserRole))
    rect = panel.top_list.visualItemRect(item)
    qtbot.mouseClick(panel.top_list.viewport(), Qt.LeftButton, pos=rect.center())
    shown = _wait_view(qtbot, panel, lambda v: v.class_index == wanted)
    expected = explain(lite_engine, cat, "gradcam", target_class=wanted).upsampled
    np.testing.assert_allclose(panel.single.heat, expected, atol=1e-5)
    assert not np.allclose(panel.single.heat, before, atol=1e-2)
    assert shown.explanations[0].class_label in panel.explained.text()

    # A flip in the lab: the flipped input is explained, the map follows the cat across.
    unflipped = panel.single.heat.copy()
    lab = install_augment_lab(window).lab
    lab.toggles["RandomHorizontalFlip"].click()
    _wait_view(qtbot, panel, lambda v: controller.shown_key[0].augment is not None)
    flipped = panel.single.heat
    by_hand = explain(lite_engine, F.horizontal_flip(cat), "gradcam", target_class=wanted)
    np.testing.assert_allclose(flipped, by_hand.upsampled, atol=1e-5)
    np.testing.assert_array_equal(panel.single.base, by_hand.model_input)
    assert _corr(flipped, np.fliplr(unflipped)) > 0.8 > _corr(flipped, unflipped)

    # The occluder: drag the grey square with the mouse; the top-5 follows.
    panel.set_mode("occluder")
    view = panel.occluder
    qtbot.waitUntil(lambda: panel.probe is not None, timeout=RESULT_TIMEOUT_MS)
    start = view.position()
    target = view.image_item.mapToScene(QPointF(40 + 24, 30 + 24))
    _drag(qtbot, view, view.centre_scene_pos(), target)
    top, left, size = view.position()
    assert (top, left) != start[:2] and abs(top - 30) <= 2 and abs(left - 40) <= 2
    qtbot.waitUntil(
        lambda: (
            panel.probe is not None
            and panel.probe.model_input[top + 2, left + 2, 0] != 0
            and np.all(panel.probe.model_input[top : top + size, left : left + size] == 128)
        ),
        timeout=RESULT_TIMEOUT_MS,
    )
    x = lite_engine.to_tensor(F.horizontal_flip(cat)).unsqueeze(0)
    x[..., top : top + size, left : left + size] = 0.0  # the mean colour, normalised
    with torch.inference_mode():
        probabilities = torch.softmax(lite_engine.model(x)[0], dim=0)
    values, indices = probabilities.topk(5)
    assert [c.index for c in panel.probe.top] == indices.tolist()
    np.testing.assert_allclose([c.probability for c in panel.probe.top], values, atol=1e-5)
    rows = [panel.probe_list.item(i).text() for i in range(panel.probe_list.count())]
    assert rows[0].startswith(f"1. {panel.probe.top[0].label}")


def test_grid_contrast_and_sanity_check_through_the_widgets(qtbot, window, lite_engine, cat):
    panel = install_explain(window).panel
    _wait_view(qtbot, panel, lambda v: True)
    panel.steps_spin.setValue(4)
    panel.samples_spin.setValue(2)
    panel.set_mode("grid")
    grid = _wait_view(qtbot, panel, lambda v: len(v.cells) == 5)
    assert [v._title for v in panel.grid_views] == [c.title for c in grid.cells]
    assert [e.method for e in grid.explanations] == [
        "gradcam",
        "gradcam++",
        "saliency",
        "smoothgrad",
        "ig",
    ]
    ig = grid.explanations[4]
    assert (
        f"within {ig.completeness_error:.1%} ({ig.ig_evaluations} gradient evaluations)"
        in panel.status.text()
    )

    panel.set_mode("contrast")
    panel.set_target("tiger cat")
    panel.versus_edit.setText("Egyptian cat")
    qtbot.keyClick(panel.versus_edit, Qt.Key_Return)
    pair = _wait_view(
        qtbot, panel, lambda v: v.contrast is not None and v.explanations[1].class_index == 285
    )
    a = explain(lite_engine, cat, "gradcam", target_class="tiger cat").map
    b = explain(lite_engine, cat, "gradcam", target_class="Egyptian cat").map
    np.testing.assert_allclose(pair.contrast.difference, a - b, atol=1e-5)
    assert panel.contrast_views[2].diverging

    panel.set_mode("sanity")
    panel.sanity_blocks.setValue(2)
    qtbot.mouseClick(panel.sanity_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.sanity is not None, timeout=RESULT_TIMEOUT_MS)
    check = panel.sanity
    assert len(panel.sanity_views) == 3 and check.class_index == 282  # tiger cat
    trained = check.steps[0].map.ravel()
    for step, view in zip(check.steps[1:], panel.sanity_views[1:], strict=True):
        rho = spearmanr(trained, step.map.ravel()).statistic
        assert view.caption == f"ρ = {rho:.2f}" and step.block in view._title


def test_panel_and_controller_import_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import cnnviz.qt.panels.explain_panel, cnnviz.qt.explain_controller\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_occlusion_runs_as_a_long_job_that_cancel_stops(qtbot, window):
    panel = install_explain(window).panel
    _wait_view(qtbot, panel, lambda v: True)
    panel.patch_spin.setValue(16)
    panel.stride_spin.setValue(4)  # 53 x 53 positions: minutes, unless stopped
    panel.set_method("occlusion")
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=RESULT_TIMEOUT_MS)
    assert panel.cancel_button.isVisible() and panel.progress.isVisible()
    qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    stopped = _wait_view(qtbot, panel, lambda v: v.explanations[0].method == "occlusion")
    grid = stopped.explanations[0].occlusion
    assert stopped.cancelled and 0 < np.count_nonzero(~np.isnan(grid.probabilities)) < 53 * 53
    assert "cancelled" in panel.status.text() and not panel.cancel_button.isVisible()


def test_the_cam_layer_is_chosen_in_the_panel(qtbot, window, lite_engine, cat):
    """The layer picker lists the model's spatial layers, opens on the last conv block and
    explains at the layer picked; the map equals the core's at that layer."""
    panel = install_explain(window).panel
    qtbot.waitUntil(lambda: panel.layer_combo.count() > 10, timeout=RESULT_TIMEOUT_MS)
    names = [panel.layer_combo.itemData(i) for i in range(1, panel.layer_combo.count())]
    modules = dict(lite_engine.model.named_modules())
    assert all(name in modules for name in names) and "features.5" in names
    assert panel.cam_layer() is None and "features.8" in panel.layer_combo.itemText(0)
    _wait_view(qtbot, panel, lambda v: v.explanations[0].layer == "features.8")
    panel.layer_combo.setCurrentIndex(panel.layer_combo.findData("features.5"))
    _wait_view(qtbot, panel, lambda v: v.explanations[0].layer == "features.5")
    expected = explain(lite_engine, cat, "gradcam", layer="features.5")
    assert expected.map.shape == (14, 14)  # features.5 is at stride 16, the default at 32
    np.testing.assert_allclose(panel.single.heat, expected.upsampled, atol=1e-5)


def test_every_explain_mode_fits_a_1024_pixel_projector_in_presentation(qtbot, window):
    panel = install_explain(window).panel
    window.set_presentation(True)
    try:
        for mode in ("single", "grid", "contrast", "occluder", "sanity"):
            panel.set_mode(mode)
            QApplication.processEvents()
            assert window.minimumSizeHint().width() <= 1024, mode
    finally:
        window.set_presentation(False)

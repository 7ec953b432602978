"""The real main window, driven through its widgets, against the core's own answers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pictures import opened
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication, QImage
from qt_helpers import RESULT_TIMEOUT_MS, wait_for_result

from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image


def _shown_rows(window):
    table = window.predictions.table
    return [
        (table.item(i, 1).text(), float(table.item(i, 2).text().rstrip("%")) / 100)
        for i in range(table.rowCount())
    ]


def _assert_table_matches(window, prediction):
    rows = _shown_rows(window)
    assert [label for label, _ in rows] == [c.label for c in prediction.top]
    assert np.allclose([p for _, p in rows], [c.probability for c in prediction.top], atol=5e-5)


def test_starts_on_the_offline_default_with_the_sample_classified(window, lite_engine, samples_dir):
    result = window.shown_result
    assert result.model.arch == "efficientnet_lite0" and not result.model.weights.untrained
    expected = lite_engine.predict(load_image(samples_dir / "cat.jpg"))
    _assert_table_matches(window, expected)
    assert window.untrained_banner.isHidden()
    assert window.image_panel.model_input.image.shape == (224, 224, 3)
    assert "EfficientNet-Lite0" in window.status_labels["model"].text()
    assert "bundled" in window.status_labels["weights"].text()
    assert "ms" in window.status_labels["time"].text()


def test_picking_a_model_in_the_picker_runs_it(qtbot, window, samples_dir):
    picker = window.arch_picker
    qtbot.waitUntil(picker.isEnabled, timeout=RESULT_TIMEOUT_MS)
    index = picker.findData("lenet5", picker_role())
    assert index >= 0
    digit = samples_dir / "digits" / "digit_3.png"
    window.open_image(str(digit))
    qtbot.waitUntil(
        lambda: window.shown_result.image_name == "digit_3.png", timeout=RESULT_TIMEOUT_MS
    )
    result = wait_for_result(
        qtbot, window, lambda: (picker.setCurrentIndex(index), picker.activated.emit(index))
    )
    assert result.model.arch == "lenet5"
    expected = Engine.load("lenet5", device="cpu").predict(load_image(digit))
    _assert_table_matches(window, expected)


def picker_role():
    from cnnviz.qt.model_picker import NAME_ROLE

    return NAME_ROLE


def test_untrained_model_shows_a_persistent_banner(qtbot, window):
    result = wait_for_result(qtbot, window, lambda: window.set_arch("mobilenet_v3_small"))
    assert result.model.weights.untrained
    banner = window.untrained_banner
    assert not banner.isHidden() and "UNTRAINED" in banner.text()
    assert "mean nothing" in window.predictions.note.text()
    wait_for_result(qtbot, window, lambda: window.set_arch("efficientnet_lite0"))
    assert banner.isHidden()


def test_rapid_switching_never_shows_a_stale_result(qtbot, window, samples_dir, lite_engine):
    shown = []

    def check(result):  # at the moment of display, the result must be for the current input
        shown.append(result)
        assert result.image_name == window.image_name and result.model.arch == window.arch

    window.sigResultShown.connect(check)
    names = ["coffee.jpg", "cat.jpg", "rocket.jpg", "dahlia.jpg", "coffee.jpg", "cat.jpg"]
    names = [n for n in names if (samples_dir / n).exists()]
    for i, name in enumerate(names * 2):
        window.open_image(str(samples_dir / name))
        if i % 3 == 0:
            window.set_arch(
                "lenet5" if window.arch == "efficientnet_lite0" else "efficientnet_lite0"
            )
    window.set_arch("efficientnet_lite0")
    final = names[-1]
    qtbot.waitUntil(
        lambda: bool(shown) and window.shown_request is window.latest_request,
        timeout=RESULT_TIMEOUT_MS,
    )
    assert len(shown) < len(names) * 2  # superseded requests were skipped, not all displayed
    assert shown[-1].image_name == final and shown[-1].model.arch == "efficientnet_lite0"
    _assert_table_matches(window, lite_engine.predict(load_image(samples_dir / final)))


def test_bad_image_shows_a_message_and_the_next_good_one_works(
    qtbot, window, tmp_path, samples_dir
):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((samples_dir / "cat.jpg").read_bytes()[:600])
    with qtbot.waitSignal(window.sigErrorShown, timeout=RESULT_TIMEOUT_MS) as error:
        window.open_image(str(broken))
    assert "broken.jpg" in error.args[0] and "Traceback" not in error.args[0]
    assert "broken.jpg" in window.error_banner.text()
    assert window.shown_result.image_name == "cat.jpg"  # the last good result stays
    result = wait_for_result(
        qtbot, window, lambda: window.open_image(str(samples_dir / "coffee.jpg"))
    )
    assert result.image_name == "coffee.jpg" and window.error_banner.isHidden()


def test_drop_and_paste_open_images(qtbot, window, samples_dir):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(samples_dir / "coffee.jpg"))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    result = wait_for_result(qtbot, window, lambda: window.dropEvent(event))
    assert result.image_name == "coffee.jpg"

    pixels = np.asarray(opened(samples_dir / "cat.jpg").convert("RGB"))
    qimage = QImage(
        pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], QImage.Format_RGB888
    ).copy()
    QGuiApplication.clipboard().setImage(qimage)
    result = wait_for_result(qtbot, window, window.paste_image)
    assert result.image_name == "pasted image"
    assert result.original.shape[:2] == pixels.shape[:2]


def test_copy_recent_and_presentation(qtbot, window, samples_dir):
    window.predictions.copy_button.click()
    text = QGuiApplication.clipboard().text()
    assert text.splitlines()[0].startswith(f"1. {window.shown_result.prediction.top[0].label}")
    assert window.recent_files()[0].endswith("cat.jpg")
    assert window.menus.recent.actions()[0].text() == "cat.jpg"
    size = window.font().pointSizeF()
    window.menus.presentation.trigger()
    assert window.presentation and window.font().pointSizeF() > 1.5 * size
    assert window.palette().window().color().name() == "#000000"
    window.menus.presentation.trigger()
    assert not window.presentation and window.font().pointSizeF() == pytest.approx(size)


def test_screenshot_command(tmp_path, samples_dir):
    out = tmp_path / "shot.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnviz",
            "gui",
            "--image",
            str(samples_dir / "coffee.jpg"),
            "--device",
            "cpu",
            "--screenshot",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "first prediction after" in done.stdout
    image = opened(out)
    assert image.width >= 800 and image.height >= 500


def test_about_lists_versions_device_and_start_up_times(window):
    import PySide6
    import torch

    from cnnviz.qt.menus import about_text

    window.timings["process_start"] = window.timings["window_shown"] - 0.5
    text = about_text(window)
    assert f"<td>PySide6</td><td>{PySide6.__version__}</td>" in text
    assert f"<td>PyTorch</td><td>{torch.__version__}</td>" in text
    assert "device cpu" in text and "first prediction after" in text


def test_a_wrong_weights_file_is_refused_and_the_window_recovers(
    qtbot, window, tmp_path, samples_dir
):
    import torch
    import torchvision

    wrong = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), wrong)
    with qtbot.waitSignal(window.sigErrorShown, timeout=RESULT_TIMEOUT_MS) as error:
        window.set_weights_file(str(wrong))
    assert "resnet18.pth does not fit EfficientNetLite" in error.args[0]
    assert window.weights_file is None  # back to what the shown result was made from
    result = wait_for_result(
        qtbot, window, lambda: window.open_image(str(samples_dir / "coffee.jpg"))
    )
    assert result.image_name == "coffee.jpg" and result.model.weights.source.value == "bundled"


def test_garbage_is_collected_on_the_gui_thread_only_while_the_worker_runs(
    qtbot, tmp_path, samples_dir
):
    """Automatic collection in the worker destroyed old widgets there and deadlocked."""
    import gc

    from qt_helpers import make_window, stop_window

    assert gc.isenabled()
    window = make_window(qtbot, tmp_path, image=str(samples_dir / "cat.jpg"), device="cpu")
    assert not gc.isenabled()
    stop_window(window)
    assert gc.isenabled()

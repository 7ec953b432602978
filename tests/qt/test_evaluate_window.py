"""The Evaluate workspace in the real window: a folder of real photos filed by their recorded
labels (plus a misfiled and an unreadable image), figures against a count by hand with plain
predicts; cancel; a click on a miss opens it in the main view."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from qt_helpers import RESULT_TIMEOUT_MS, wait_for_result

from cnnviz.core.images import load_image
from cnnviz.qt.evaluate_controller import install_evaluate


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory, samples_dir) -> tuple[Path, list[tuple[Path, str]]]:
    """Each labelled sample photo in a folder named by its recorded label; the dahlia
    misfiled under espresso; an unreadable file under palace. Returns (root, [(file, truth)])."""
    root = tmp_path_factory.mktemp("photos")
    listing = json.loads((samples_dir / "samples.json").read_text())
    filed = []
    for entry in listing:
        if entry["kind"] == "photo" and entry["true_label"]:
            folder = root / entry["true_label"].replace(" ", "_")
            folder.mkdir()
            shutil.copy(samples_dir / entry["file"], folder / Path(entry["file"]).name)
            filed.append((folder / Path(entry["file"]).name, entry["true_label"]))
    shutil.copy(samples_dir / "dahlia.jpg", root / "espresso" / "dahlia.jpg")
    filed.append((root / "espresso" / "dahlia.jpg", "espresso"))
    (root / "palace" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    return root, filed


def hand_count(engine, filed) -> dict:
    images, top1, top5, wrong = Counter(), Counter(), Counter(), []
    for path, truth in filed:
        labels = [c.label for c in engine.predict(load_image(path)).top]
        images[truth] += 1
        top1[truth] += labels[0] != truth
        top5[truth] += truth not in labels
        if labels[0] != truth:
            wrong.append((str(path), truth, labels[0]))
    return {"images": images, "top1": top1, "top5": top5, "wrong": wrong}


def _rate(misses: int, n: int) -> str:
    return f"{misses / n:.1%} ({misses}/{n})"


def _rows(table) -> list[list[str]]:
    return [
        [table.item(i, j).text() for j in range(table.columnCount())]
        for i in range(table.rowCount())
    ]


def _run(qtbot, window, panel, path: str, batch: int) -> None:
    panel.path_edit.clear()
    qtbot.keyClicks(panel.path_edit, path)
    panel.batch_spin.setValue(batch)
    panel.run_button.click()


def test_figures_equal_a_hand_count_and_a_miss_opens(qtbot, window, lite_engine, photo_set):
    root, filed = photo_set
    controller = install_evaluate(window)
    panel = controller.panel
    window.show_workspace("Evaluate")
    assert window.workspace == "Evaluate" and window.is_shown(panel)
    _run(qtbot, window, panel, str(root), batch=3)  # 7 files: batches of 3, 3, 1
    qtbot.waitUntil(lambda: panel.evaluation is not None, timeout=RESULT_TIMEOUT_MS)
    expected = hand_count(lite_engine, filed)
    n = sum(expected["images"].values())
    t1, t5 = sum(expected["top1"].values()), sum(expected["top5"].values())
    assert panel.headline.text() == f"top-1 error {_rate(t1, n)}   ·   top-5 error {_rate(t5, n)}"
    assert expected["top1"]["espresso"] >= 1 and expected["top5"]["espresso"] >= 1  # the dahlia
    per_class = {
        truth: [truth, str(k), _rate(expected["top1"][truth], k), _rate(expected["top5"][truth], k)]
        for truth, k in expected["images"].items()
    }
    assert sorted(_rows(panel.per_class)) == sorted(per_class.values())
    pairs = Counter((t, p) for _, t, p in expected["wrong"])
    assert sorted(_rows(panel.confused)) == sorted([t, p, str(c)] for (t, p), c in pairs.items())
    assert panel.skipped.text().startswith("Skipped 1: broken.jpg (")
    assert f"{n} images in" in panel.status.text() and "images/s" in panel.status.text()
    assert not panel.progress.isVisible() and panel.run_button.isEnabled()

    gallery = panel.gallery
    items = [gallery.item(i) for i in range(gallery.count())]
    assert sorted(i.text() for i in items) == sorted(f"{t}\n→ {p}" for _, t, p in expected["wrong"])
    assert not any(i.icon().isNull() for i in items)
    item = items[-1]
    path = next(path for path, t, p in expected["wrong"] if item.text() == f"{t}\n→ {p}")
    rect = gallery.visualItemRect(item)
    result = wait_for_result(
        qtbot,
        window,
        lambda: qtbot.mouseClick(gallery.viewport(), Qt.LeftButton, pos=rect.center()),
    )
    assert window.image_source == path and result.image_name == Path(path).name


def test_cancel_stops_an_evaluation(qtbot, window, samples_dir, tmp_path):
    root = tmp_path / "many"
    (root / "tabby").mkdir(parents=True)
    for i in range(150):
        shutil.copy(samples_dir / "cat.jpg", root / "tabby" / f"cat{i:03}.jpg")
    controller = install_evaluate(window)
    panel = controller.panel
    window.show_workspace("Evaluate")
    _run(qtbot, window, panel, str(root), batch=1)
    qtbot.waitUntil(lambda: panel.progress.value() >= 1, timeout=RESULT_TIMEOUT_MS)
    assert panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: panel.evaluation is not None, timeout=RESULT_TIMEOUT_MS)
    e = panel.evaluation
    assert e.cancelled and 1 <= e.images < 150 and e.total == 150
    assert panel.status.text().startswith(f"efficientnet_lite0 on {root}")
    assert f"Cancelled after {e.images} of 150 images" in panel.status.text()
    assert panel.headline.text().endswith(f"/{e.images})")
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_errors_are_shown_in_the_panel(qtbot, window, tmp_path):
    panel = install_evaluate(window).panel
    _run(qtbot, window, panel, str(tmp_path / "nowhere"), batch=4)
    qtbot.waitUntil(lambda: "failed" in panel.status.text(), timeout=RESULT_TIMEOUT_MS)
    assert "no such folder or CSV file" in panel.status.text() and panel.run_button.isEnabled()

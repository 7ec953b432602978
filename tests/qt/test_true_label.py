"""The True label dock in the real window: prefilled for samples, typed with completion; its
rank and probability against a numpy ranking of an independent predict's full vector."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from qt_helpers import RESULT_TIMEOUT_MS, wait_for_result

from cnnviz.core.images import load_image
from cnnviz.qt.truth_controller import install_true_label

# The completer's popup asks for things the offscreen platform cannot do.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support (raise|grabbing)")


def numpy_rank(probabilities: np.ndarray, index: int) -> int:
    """1-based position of `index` in a stable descending sort (ties: lower index first)."""
    order = np.argsort(-probabilities, kind="stable")
    return int(np.flatnonzero(order == index)[0]) + 1


def _type_label(qtbot, panel, text: str) -> None:
    panel.edit.clear()
    qtbot.keyClicks(panel.edit, text)
    qtbot.keyClick(panel.edit, Qt.Key_Return)


def _wait_classes(qtbot, controller) -> None:
    qtbot.waitUntil(lambda: "efficientnet_lite0" in controller.classes, timeout=RESULT_TIMEOUT_MS)


@pytest.fixture(scope="module")
def cat_probabilities(lite_engine, samples_dir) -> np.ndarray:
    return lite_engine.predict(load_image(samples_dir / "cat.jpg")).probabilities


def test_sample_prefill_rank_and_highlight(qtbot, window, lite_engine, cat_probabilities):
    controller = install_true_label(window)
    assert install_true_label(window) is controller
    panel = controller.panel
    _wait_classes(qtbot, controller)
    categories = lite_engine.spec.categories
    assert panel.classes.stringList() == sorted(set(categories), key=str.casefold)
    # Prefilled from samples.json, with its note beside it.
    assert panel.edit.text() == "tabby"
    assert (
        panel.note.isVisibleTo(panel) and "tabby, tiger cat and Egyptian cat" in panel.note.text()
    )
    p = cat_probabilities
    tabby = categories.index("tabby")
    rank = numpy_rank(p, tabby)
    truth = controller.truth
    assert (
        truth is not None
        and truth.rank == rank
        and truth.probability == pytest.approx(p[tabby], abs=1e-6)
    )
    assert f"rank {rank} of 1000" in panel.detail.text()
    assert ("top-1 hit" if rank == 1 else "top-1 miss") in panel.verdict.text()
    assert ("top-5 hit" if rank <= 5 else "top-5 miss") in panel.verdict.text()
    shown = [window.predictions.table.item(i, 1).text() for i in range(5)]
    assert (window.predictions.highlighted == "tabby") == ("tabby" in shown)

    # A class far outside the top-5, typed through the widget: its rank and p still show.
    order = np.argsort(-p, kind="stable")
    far = categories[int(order[400])]
    _type_label(qtbot, panel, far.upper())  # case does not matter
    assert controller.truth.label == far and controller.truth.rank == 401
    assert "top-1 miss · top-5 miss" in panel.verdict.text()
    assert "rank 401 of 1000, p = " in panel.detail.text()
    assert window.predictions.highlighted is None

    # The top-1 class: a hit, and its row is highlighted in the predictions table.
    top = categories[int(order[0])]
    _type_label(qtbot, panel, top)
    assert "top-1 hit · top-5 hit" in panel.verdict.text()
    assert window.predictions.highlighted == top
    row = shown.index(top)
    assert window.predictions.table.item(row, 1).toolTip() == "the true class"

    # A name that is no class: said so, nothing highlighted.
    _type_label(qtbot, panel, "unicorn")
    assert controller.truth is None and "no class named 'unicorn'" in panel.verdict.text()
    assert window.predictions.highlighted is None


def test_labels_follow_the_image(qtbot, window, tmp_path, samples_dir, lite_engine):
    controller = install_true_label(window)
    panel = controller.panel
    _wait_classes(qtbot, controller)
    # Not a bundled sample (a byte after the JPEG's end makes it another file with the same
    # picture): nothing recorded, no note. An exact copy would count as the sample.
    copy = tmp_path / "my_cup.jpg"
    copy.write_bytes((samples_dir / "coffee.jpg").read_bytes() + b"\0")
    wait_for_result(qtbot, window, lambda: window.open_image(str(copy)))
    assert panel.edit.text() == "" and not panel.note.isVisibleTo(panel)
    assert "Set the true class" in panel.verdict.text()
    # The completer offers classes containing the typed text.
    panel.edit.clear()
    qtbot.keyClicks(panel.edit, "espres")
    completions = [
        panel.completer.completionModel().index(i, 0).data()
        for i in range(panel.completer.completionCount())
    ]
    assert completions == ["espresso", "espresso maker"]
    qtbot.keyClick(panel.edit, Qt.Key_Return)
    _type_label(qtbot, panel, "espresso")
    p = lite_engine.predict(load_image(copy)).probabilities
    index = lite_engine.spec.categories.index("espresso")
    assert controller.truth.rank == numpy_rank(p, index)

    astronaut = samples_dir / "astronaut.jpg"  # a sample with no ImageNet class
    wait_for_result(qtbot, window, lambda: window.open_image(str(astronaut)))
    assert panel.edit.text() == "" and "no class for a person" in panel.note.text()
    wait_for_result(qtbot, window, lambda: window.open_image(str(copy)))
    assert panel.edit.text() == "espresso"  # what the user set for this image is kept
    assert controller.truth.rank == numpy_rank(p, index)

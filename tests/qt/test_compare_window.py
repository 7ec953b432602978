"""The Compare workspace in the real window: add and remove models through the widgets, each
model's top-5 against its own predict, facts against torchvision, the chart, cancel, and
memory (compared models freed, the window's model kept)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from qt_helpers import RESULT_TIMEOUT_MS, wait_for_result
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image
from cnnviz.qt.compare_controller import install_compare


@pytest.fixture(scope="module")
def lite1_prediction(samples_dir):
    engine = Engine.load("efficientnet_lite1", device="cpu")
    return engine.predict(load_image(samples_dir / "cat.jpg")), sum(
        p.numel() for p in engine.model.parameters()
    )


def _column(table, j: int, rows: int = 5) -> list[str]:
    return [table.item(i, j).text() for i in range(rows)]


def _fact(table, name: str, j: int) -> str:
    for i in range(table.rowCount()):
        if table.verticalHeaderItem(i).text() == name:
            return table.item(i, j).text()
    raise KeyError(name)


def _choose(qtbot, panel, arch: str) -> None:
    index = panel.arch_combo.findData(arch)
    assert index >= 0
    panel.arch_combo.setCurrentIndex(index)
    panel.add_button.click()


def test_add_models_compare_and_read_the_table(
    qtbot, window, lite_engine, samples_dir, lite1_prediction
):
    controller = install_compare(window)
    panel = controller.panel
    assert install_compare(window) is controller
    window.show_workspace("Compare")
    assert window.is_shown(panel)
    qtbot.waitUntil(lambda: panel.zoo is not None, timeout=RESULT_TIMEOUT_MS)
    assert panel.selected() == ("efficientnet_lite0", "resnet18")  # the window's model + one
    _choose(qtbot, panel, "lenet5")
    panel.chosen.setCurrentRow(2)
    panel.remove_button.click()
    _choose(qtbot, panel, "efficientnet_lite1")
    _choose(qtbot, panel, "efficientnet_lite1")  # not twice
    assert panel.selected() == ("efficientnet_lite0", "resnet18", "efficientnet_lite1")
    panel.run_button.click()
    qtbot.waitUntil(lambda: panel.comparison is not None, timeout=RESULT_TIMEOUT_MS)
    comparison = panel.comparison
    assert not comparison.cancelled and len(comparison.runs) == 3
    table = panel.table
    headers = [table.horizontalHeaderItem(j).text() for j in range(3)]
    assert headers == ["EfficientNet-Lite0", "ResNet-18", "EfficientNet-Lite1"]

    cat = lite_engine.predict(load_image(samples_dir / "cat.jpg"))
    lite1, lite1_params = lite1_prediction
    for j, expected in ((0, cat), (2, lite1)):  # each model's top-5 = its own predict
        assert _column(table, j) == [f"{c.label}  {c.probability:.1%}" for c in expected.top]
        run = comparison.runs[j]
        assert [c.label for c in run.top] == [c.label for c in expected.top]
        assert np.allclose([c.probability for c in run.top], [c.probability for c in expected.top])
    assert _fact(table, "parameters", 2) == f"{lite1_params / 1e6:.2f} M"
    assert _fact(table, "weights", 1) == "RANDOM (untrained)"
    assert _fact(table, "weights", 0).startswith("real")
    assert _fact(table, "depth", 1) == str(
        sum(isinstance(m, nn.Conv2d | nn.Linear) for m in resnet18().modules())
    )
    acc = ResNet18_Weights.IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]
    assert _fact(table, "published top-1", 1).startswith(f"{acc['acc@1']:.1f} % acc")
    assert _fact(table, "published top-5", 1).startswith(f"{acc['acc@5']:.1f} % acc")
    assert _fact(table, "published top-1", 0) == "—"  # the Lite weights publish no accuracy
    assert "published, not measured here" in panel.note.text()

    # Agreement: the classes in all three top-5s, and whether the top-1s differ.
    tops = [[c.label for c in r.top] for r in comparison.runs]
    shared = [label for label in tops[0] if all(label in t for t in tops[1:])]
    text = panel.agreement.text()
    assert ("In every top-5:</b> " + (", ".join(shared) or "no class")) in text
    assert ("Top-1 differs" in text) == (len({t[0] for t in tops}) > 1)

    # The chart: every published model, the compared ones marked (only ResNet-18 publishes).
    _, marked = panel.chart_points()
    assert marked == ["resnet18"]
    x, y = panel.marked.getData()
    assert list(x) == [2015] and y[0] == pytest.approx(100 - acc["acc@1"])
    panel.axis_combo.setCurrentIndex(panel.axis_combo.findData("depth"))
    x, _ = panel.marked.getData()
    assert list(x) == [int(_fact(table, "depth", 1))]

    # Memory: the compared models are freed; the window's model is still the worker's.
    gc.collect()
    alive = {o.spec.name for o in gc.get_objects() if isinstance(o, Engine)}
    assert "resnet18" not in alive
    session = window.worker_thread.worker._session
    assert session.engine is not None and session.engine.spec.name == "efficientnet_lite0"


def test_cancel_between_models(qtbot, window):
    panel = install_compare(window).panel
    window.show_workspace("Compare")
    qtbot.waitUntil(lambda: panel.zoo is not None, timeout=RESULT_TIMEOUT_MS)
    panel.set_selected(["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
    panel.run_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() >= 1, timeout=RESULT_TIMEOUT_MS)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: panel.comparison is not None, timeout=RESULT_TIMEOUT_MS)
    comparison = panel.comparison
    assert comparison.cancelled and 1 <= len(comparison.runs) < 3
    assert panel.table.columnCount() == len(comparison.runs)
    assert "Cancelled" in panel.status.text() and panel.run_button.isEnabled()


def test_no_work_for_a_hidden_workspace(qtbot, window, samples_dir):
    controller = install_compare(window)
    panel = controller.panel
    window.show_workspace("Compare")
    qtbot.waitUntil(lambda: panel.zoo is not None, timeout=RESULT_TIMEOUT_MS)
    panel.set_selected(["efficientnet_lite0", "lenet5"])
    panel.run_button.click()
    qtbot.waitUntil(lambda: panel.comparison is not None, timeout=RESULT_TIMEOUT_MS)
    first = panel.comparison
    window.show_workspace("Classify")
    coffee = samples_dir / "coffee.jpg"
    wait_for_result(qtbot, window, lambda: window.open_image(str(coffee)))
    qtbot.wait(300)
    assert panel.comparison is first and not panel.progress.isVisible()  # nothing ran
    window.show_workspace("Compare")  # the input changed: the comparison reruns on it
    qtbot.waitUntil(lambda: panel.comparison is not first, timeout=RESULT_TIMEOUT_MS)
    expected = Engine.load("lenet5", device="cpu").predict(load_image(coffee)).top
    assert [c.label for c in panel.comparison.runs[1].top] == [c.label for c in expected]
    assert panel.status.text().startswith("2 models on coffee.jpg")

"""The layer explorer in the real main window, driven through its widgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QRectF, QSettings, Qt
from qt_helpers import RESULT_TIMEOUT_MS, stop_window, wait_for_result

from cnnviz.core.images import load_image
from cnnviz.core.inspect.colormaps import lookup_table
from cnnviz.core.inspect.receptive_field import receptive_field
from cnnviz.qt.layer_controller import install_layer_explorer
from cnnviz.qt.main_window import MainWindow, StartOptions
from cnnviz.qt.theme import PRESENTATION


def _open(qtbot, tmp_path, samples_dir, before_start=None):
    """A shown window with the explorer installed before start, as the app does."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    options = StartOptions(image=str(samples_dir / "cat.jpg"), device="cpu", workspace="Layers")
    window = MainWindow(options, settings)
    qtbot.addWidget(window)
    controller = install_layer_explorer(window)
    if before_start is not None:
        before_start(controller)
    window.resize(1400, 900)
    window.show()
    with qtbot.waitSignal(window.sigResultShown, timeout=RESULT_TIMEOUT_MS):
        window.start()
    return window, controller


@pytest.fixture
def explorer(qtbot, tmp_path, samples_dir):
    window, controller = _open(qtbot, tmp_path, samples_dir)
    yield window, controller
    stop_window(window)


def _hook(engine, name, image):
    """The output of module `name` for `image`, by a plain forward hook."""
    seen = []
    module = dict(engine.model.named_modules())[name]
    handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
    with torch.no_grad():
        engine.model(engine.to_tensor(image).unsqueeze(0))
    handle.remove()
    return seen[-1][0].numpy()


def _click_tree_row(qtbot, panel, name):
    item = panel.items[name]
    panel.select(name, emit=False)  # expands and scrolls it into view
    panel.tree.setCurrentItem(None)
    rect = panel.tree.visualItemRect(item)
    # On the name, near the row's left end: a narrow dock may show only the first column.
    where = QPoint(min(rect.left() + 30, panel.tree.viewport().width() - 5), rect.center().y())
    qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton, pos=where)


def _show_tab(qtbot, window, controller, key: str):
    """Bring one of the explorer's tabs to the front and wait for what it asks for."""
    return wait_for_result(qtbot, window, controller.docks[key].raise_)


def test_first_result_shows_the_tree_and_the_first_conv(qtbot, explorer, lite_engine, samples_dir):
    window, controller = explorer
    assert controller.tree is not None and controller.tree_panel.items
    assert controller.tree_panel.current_layer() == "features.0.conv"
    view = controller.view
    expected = _hook(lite_engine, "features.0.conv", load_image(samples_dir / "cat.jpg"))
    np.testing.assert_allclose(view.activation, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(controller.maps.montage_view.image, view.montage.image)
    # The statistics are the side tab shown first, beside the montage.
    assert controller.stats.labels["layer"].text() == "features.0.conv"
    _show_tab(qtbot, window, controller, "filters")
    assert controller.filters.mode() == "patches"
    _show_tab(qtbot, window, controller, "matmul")
    assert "✓" in controller.matmul.summary.text()


def test_selecting_layers_in_the_tree_widget(qtbot, explorer, lite_engine, samples_dir):
    window, controller = explorer
    cat = load_image(samples_dir / "cat.jpg")
    panel = controller.tree_panel
    for name in ("features.5.2.project.conv", "features.6.1.add", "features.2.0.expand.bn"):
        panel.filter_box.setText(name.rpartition(".")[0])
        result = wait_for_result(qtbot, window, lambda n=name: _click_tree_row(qtbot, panel, n))
        view = result.layer_view
        assert view.layer == name == controller.view.layer == panel.current_layer()
        np.testing.assert_array_equal(controller.maps.montage_view.image, view.montage.image)
        if name.endswith("add"):
            assert view.description.kind == "add" and controller.filters.grid is None
        else:
            np.testing.assert_allclose(view.activation, _hook(lite_engine, name, cat), atol=1e-5)
    _show_tab(qtbot, window, controller, "filters")
    assert controller.filters.pages.currentWidget() is controller.filters.bn_plots
    panel.filter_box.clear()


def test_montage_settings_and_colormap(qtbot, explorer):
    window, controller = explorer
    maps = controller.maps
    result = wait_for_result(qtbot, window, lambda: maps.normalise_box.setCurrentIndex(1))
    view = result.layer_view
    assert view.normalise == "shared"
    tile = view.montage.channel_rect(0)
    x, y, w, h = tile
    low, high = view.maps.min(), view.maps.max()
    np.testing.assert_allclose(
        maps.montage_view.image[y : y + h, x : x + w],
        (view.maps[0] - low) / (high - low),
        atol=1e-6,
    )
    result = wait_for_result(qtbot, window, lambda: maps.order_box.setCurrentIndex(2))
    channel_max = result.layer_view.maps.reshape(len(result.layer_view.maps), -1).max(axis=1)
    np.testing.assert_array_equal(
        result.layer_view.montage.order, np.argsort(-channel_max, kind="stable")
    )
    with qtbot.assertNotEmitted(window.sigResultShown, wait=200):
        maps.colormap_box.setCurrentText("grey")
    np.testing.assert_array_equal(maps.montage_view.image_item.lut, lookup_table("grey"))


def test_channel_click_and_receptive_field_on_the_input(qtbot, explorer, lite_engine, samples_dir):
    window, controller = explorer
    panel = controller.tree_panel
    layer = "features.3.0.expand.conv"
    wait_for_result(qtbot, window, lambda: _click_tree_row(qtbot, panel, layer))
    maps = controller.maps
    view = controller.view
    channel = 7
    x, y, w, h = view.montage.channel_rect(channel)
    montage_view = maps.montage_view
    # Zoom onto the tile, as a user would, so that one click hits one pixel.
    montage_view.view.setRange(QRectF(x, y, w, h), padding=0)
    qtbot.wait(50)  # the view applies a new range when it next paints
    pos = montage_view.mapFromScene(montage_view.scene_pos_of(y + 4, x + 6))
    qtbot.mouseClick(montage_view.viewport(), Qt.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: controller.rf_outcome is not None, timeout=RESULT_TIMEOUT_MS)
    assert maps.channel == channel and maps.position == (4, 6)
    np.testing.assert_array_equal(maps.shown_channel(), view.maps[channel])
    maps.channel_view.scene().sigMouseMoved.emit(maps.channel_view.scene_pos_of(4, 6))
    assert f"value {view.maps[channel, 4, 6]:.5g}" in maps.readout.text()
    qtbot.waitUntil(lambda: controller.rf_rect is not None, timeout=5000)
    x_in = lite_engine.to_tensor(load_image(samples_dir / "cat.jpg")).unsqueeze(0)
    top, left, bottom, right = receptive_field(lite_engine.model, x_in, layer, channel, 4, 6)
    assert controller.receptive_field_rect() == (left, top, right - left + 1, bottom - top + 1)
    assert controller.rf_rect.scene() is window.image_panel.model_input.view.scene()
    # Another layer removes the rectangle: it belonged to the old layer.
    wait_for_result(qtbot, window, lambda: _click_tree_row(qtbot, panel, "features.0.conv"))
    assert controller.rf_rect is None


def test_switching_architecture_goes_to_its_first_conv(qtbot, explorer, samples_dir):
    window, controller = explorer
    window.open_image(str(samples_dir / "digits" / "digit_3.png"))
    qtbot.waitUntil(lambda: window.shown_result.image_name == "digit_3.png", timeout=60_000)
    result = wait_for_result(qtbot, window, lambda: window.set_arch("lenet5"))
    assert result.layer_view.layer == "features.0" and controller.tree.root.type_name == "LeNet5"
    assert set(controller.tree_panel.items) == {n.name for n in controller.tree.walk()}
    with pytest.raises(KeyError, match="features.3"):
        controller.select_layer("features.33")
    window.set_presentation(True)
    assert controller.maps.montage_view.backgroundBrush().color().name() == PRESENTATION.background
    window.set_presentation(False)


def test_layer_chosen_before_start_and_unknown_layer_fallback(qtbot, tmp_path, samples_dir):
    window, controller = _open(
        qtbot, tmp_path, samples_dir, lambda c: c.select_layer("features.4.0.depthwise.conv")
    )
    try:
        assert controller.view.layer == "features.4.0.depthwise.conv"
    finally:
        stop_window(window)
    errors: list[str] = []

    def bad_layer(c):
        c.window.sigErrorShown.connect(errors.append)
        c.select_layer("no.such.layer")

    window, controller = _open(qtbot, tmp_path, samples_dir, bad_layer)
    try:
        # The failed first request is followed by one for the first conv.
        assert len(errors) == 1 and "'no.such.layer'" in errors[0]
        assert controller.view.layer == "features.0.conv"
    finally:
        stop_window(window)


def test_a_hidden_panel_costs_nothing_until_its_tab_is_shown(qtbot, explorer):
    window, controller = explorer
    filters_dock = controller.docks["filters"]
    assert filters_dock.visibleRegion().isEmpty()  # behind the statistics tab
    shown = window.shown_result
    assert "filters" not in shown.layer_view.parts and shown.layer_view.kernels is None
    assert shown.layer_view.stats is not None and shown.layer_view.montage is not None
    # Showing the filters tab asks again, now with the kernels and without the statistics,
    # whose tab it covers.
    result = wait_for_result(qtbot, window, filters_dock.raise_)
    assert "filters" in result.layer_view.parts and result.layer_view.kernels is not None
    assert result.layer_view.stats is None and result.layer_view.montage is not None
    assert controller.filters.layer_view is result.layer_view  # drawn from this result

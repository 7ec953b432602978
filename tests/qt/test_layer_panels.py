"""The layer explorer's panels on their own, fed real layer views, driven through widgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from meta_models import meta_engine
from PySide6.QtCore import Qt
from torch import nn

from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image
from cnnviz.core.inspect.colormaps import lookup_table
from cnnviz.core.inspect.export import wrap_kernels
from cnnviz.core.inspect.filters import kernel_grid
from cnnviz.core.inspect.settings import LayerSettings
from cnnviz.core.inspect.view import build_layer_view, layer_tree_for
from cnnviz.core.zoo.registry import all_archs
from cnnviz.qt.panels.feature_maps import FeatureMapsPanel
from cnnviz.qt.panels.filters_panel import FiltersPanel
from cnnviz.qt.panels.im2col_panel import Im2colPanel
from cnnviz.qt.panels.layer_stats_panel import LayerStatsPanel
from cnnviz.qt.panels.layer_tree import LayerTreePanel
from cnnviz.qt.theme import PRESENTATION


@pytest.fixture(scope="module")
def lite():
    return Engine.load("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="module")
def cat(samples_dir):
    return load_image(samples_dir / "cat.jpg")


def _shown(panel, qtbot, size=(900, 600)):
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _meta_tree(name: str):
    engine = meta_engine(name)
    return engine.model, layer_tree_for(engine)


def _geometry(conv: nn.Conv2d) -> str:
    k, s, p = (
        v if isinstance(v, str) else v[0] for v in (conv.kernel_size, conv.stride, conv.padding)
    )
    text = f"k{k} s{s} p{p}"
    return text + (f" g{conv.groups}" if conv.groups > 1 else "")


@pytest.mark.parametrize("arch", ["alexnet", "googlenet", "densenet121", "efficientnet_lite0"])
def test_tree_panel_rows_for_every_conv_and_join(qtbot, arch):
    model, tree = _meta_tree(arch)
    panel = LayerTreePanel()
    qtbot.addWidget(panel)
    panel.set_tree(tree)
    for name, module in model.named_modules():
        item = panel.items[name]
        if isinstance(module, nn.Conv2d):
            assert item.text(1) == "Conv2d" and item.text(4) == _geometry(module)
            out = tree.find(name).output_shape
            assert item.text(2) == "×".join(map(str, out[1:]))
    for join in tree.joins():
        item = panel.items[join.name]
        assert item.text(0)[0] == ("⊕" if join.kind == "add" else "∥")
        assert panel.items[join.parent] is item.parent()


def test_tree_panel_all_registry_models_and_filter(qtbot):
    panel = LayerTreePanel()
    qtbot.addWidget(panel)
    for arch in all_archs():
        model, tree = _meta_tree(arch)
        panel.set_tree(tree)
        convs = {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
        assert convs <= set(panel.items), arch
    panel.filter_box.setText("conv")  # the last model is still shown; filter its rows
    visible = set(panel.visible_layers())
    assert convs <= visible < set(panel.items)

    def kept(name: str) -> bool:
        matches = "conv" in name.lower() or "conv" in panel.items[name].text(1).lower()
        return matches or name == "" or any(v.startswith(name + ".") for v in visible)

    assert all(kept(name) for name in visible)
    panel.filter_box.clear()
    assert len(panel.visible_layers()) == len(panel.items)


def test_tree_selection_emits_the_layer_name(qtbot, lite):
    panel = _shown(LayerTreePanel(), qtbot)
    panel.set_tree(layer_tree_for(lite))
    item = panel.items["features.1.0"]
    panel.tree.scrollToItem(item)
    rect = panel.tree.visualItemRect(item)
    with qtbot.waitSignal(panel.sigLayerSelected) as blocker:
        qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton, pos=rect.center())
    assert blocker.args == ["features.1.0"]
    with qtbot.assertNotEmitted(panel.sigLayerSelected):
        panel.select("features.6.1.add", emit=False)
    assert panel.current_layer() == "features.6.1.add"


def _click_pixel(qtbot, view, row, col):
    pos = view.mapFromScene(view.scene_pos_of(row, col))
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=pos)


def test_feature_maps_montage_click_opens_channel(qtbot, lite, cat):
    view = build_layer_view(lite, cat, LayerSettings("features.2.0.expand.conv", order="mean"))
    panel = _shown(FeatureMapsPanel(), qtbot)
    panel.show_view(view)
    np.testing.assert_array_equal(panel.montage_view.image_item.image, view.montage.image)
    panel.colormap_box.setCurrentText("magma")
    np.testing.assert_array_equal(panel.montage_view.image_item.lut, lookup_table("magma"))
    # The strongest channel by mean is the first tile; click its pixel (row 5, col 7).
    channel = int(np.argmax(view.maps.mean(axis=(1, 2))))
    x, y, _w, _h = view.montage.channel_rect(channel)
    assert (x, y) == (1, 1)
    with qtbot.waitSignal(panel.sigPositionChosen) as blocker:
        _click_pixel(qtbot, panel.montage_view, y + 5, x + 7)
    assert blocker.args == [channel, 5, 7]
    np.testing.assert_array_equal(panel.shown_channel(), view.maps[channel])
    # A click inside the large view picks that position of the same channel.
    with qtbot.waitSignal(panel.sigPositionChosen) as blocker:
        _click_pixel(qtbot, panel.channel_view, 10, 3)
    assert blocker.args == [channel, 10, 3]
    panel.channel_view.scene().sigMouseMoved.emit(panel.channel_view.scene_pos_of(2, 9))
    assert f"value {view.maps[channel, 2, 9]:.5g}" in panel.readout.text()
    with qtbot.waitSignal(panel.sigSettingsChanged):
        panel.normalise_box.setCurrentIndex(1)
    assert panel.normalise() == "shared"


def test_feature_maps_export(qtbot, lite, cat, tmp_path):
    view = build_layer_view(lite, cat, LayerSettings("features.1.0.project.conv"))
    panel = _shown(FeatureMapsPanel(), qtbot)
    panel.show_view(view)
    np.testing.assert_array_equal(
        np.load(panel.export_npy(str(tmp_path / "a.npy"))), view.activation
    )
    assert (tmp_path / "m.png").exists() is False
    panel.export_png(str(tmp_path / "m.png"))
    assert (tmp_path / "m.png").stat().st_size > 0


def test_stats_panel_numbers_and_histogram(qtbot, lite, cat):
    view = build_layer_view(lite, cat, LayerSettings("features.3.0.expand.act"))
    panel = LayerStatsPanel()
    qtbot.addWidget(panel)
    panel.show_stats(view.layer, view.stats, view.maps.shape[0])
    values = view.activation.astype(np.float64)
    assert float(panel.labels["mean"].text()) == pytest.approx(values.mean(), rel=1e-4)
    assert float(panel.labels["std"].text()) == pytest.approx(values.std(), rel=1e-4)
    assert float(panel.labels["max"].text()) == pytest.approx(values.max(), rel=1e-4)
    zeros = (view.activation == 0).mean()
    assert panel.labels["zeros"].text() == f"{zeros:.1%}"
    dead = int((view.activation.reshape(len(values), -1).max(axis=1) <= 0).sum())
    assert panel.labels["dead"].text().startswith(f"{dead} of {len(values)}")
    counts, edges = np.histogram(view.activation, bins=64)
    x, y = panel.histogram()
    np.testing.assert_allclose(x, edges)
    np.testing.assert_array_equal(y, counts)
    panel.log_box.setChecked(True)
    np.testing.assert_allclose(panel.histogram()[1], np.log10(1 + counts))


class _TinyEngine:
    """A conv with a zero kernel and a duplicated one, then a BatchNorm with set buffers."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Conv2d(4, 4, 3, bias=False), nn.BatchNorm2d(4)).eval()
        with torch.no_grad():
            self.model[0].weight[1] = 0
            self.model[0].weight[3] = 2 * self.model[0].weight[0]
            self.model[1].running_mean.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
            self.model[1].running_var.copy_(torch.tensor([1.0, 4.0, 0.25, 9.0]))
        self.device = torch.device("cpu")

    def predict_capturing(self, image: torch.Tensor, layer: str, *, conv_input: bool = False):
        """The engine's capture without its preprocessing: `image` is the model input."""
        from cnnviz.core.inspect.forward import forward_capturing

        with torch.no_grad():
            seen = forward_capturing(self.model, image[None], layer, conv_input=conv_input)
        return None, seen


def test_filters_panel_grid_order_inputs_and_flags(qtbot):
    engine = _TinyEngine()
    x = torch.randn(4, 9, 9, generator=torch.Generator().manual_seed(1))
    panel = _shown(FiltersPanel(), qtbot)
    panel.show_view(build_layer_view(engine, x, LayerSettings("0")))
    conv = engine.model[0]
    np.testing.assert_array_equal(panel.grid_view.image, kernel_grid(conv).image)
    assert panel.flagged() == {0: "≈ out 3", 1: "near zero", 3: "≈ out 0"}
    panel.order_box.setCurrentIndex(1)
    panel.inputs_edit.setText("3, 1")
    panel.inputs_edit.editingFinished.emit()
    direct = kernel_grid(conv, order="l2", input_channels=[1, 3])
    np.testing.assert_array_equal(panel.grid_view.image, direct.image)
    assert [panel.table.item(r, 0).text() for r in range(4)] == [str(c) for c in direct.order]
    # One input column is drawn wrapped into a near-square block of kernels.
    panel.inputs_edit.setText("2")
    panel.inputs_edit.editingFinished.emit()
    one = kernel_grid(conv, order="l2", input_channels=[2])
    np.testing.assert_array_equal(panel.grid_view.image, wrap_kernels(one)[0])
    panel.inputs_edit.setText("5")
    panel.inputs_edit.editingFinished.emit()
    assert "outside" in panel.readout.text()
    panel.show_view(build_layer_view(engine, x, LayerSettings("1")))
    _, mean = panel.bn_curves["running_mean"].getData()
    _, var = panel.bn_curves["running_var"].getData()
    np.testing.assert_array_equal(mean, [0.5, -1.0, 2.0, 0.0])
    np.testing.assert_array_equal(var, [1.0, 4.0, 0.25, 9.0])
    assert not panel.save_button.isEnabled()


def test_filters_first_layer_patches_and_export(qtbot, lite, cat, tmp_path):
    panel = _shown(FiltersPanel(), qtbot)
    view = build_layer_view(lite, cat, LayerSettings("features.0.conv"))
    panel.show_view(view)
    assert panel.mode() == "patches" and panel.grid_view.image.shape[2] == 4
    panel.export_png(str(tmp_path / "p.png"))
    panel.mode_box.setCurrentIndex(0)
    assert panel.grid_view.image.ndim == 2
    panel.export_png(str(tmp_path / "g.png"))
    assert (tmp_path / "p.png").exists() and (tmp_path / "g.png").exists()


def test_filters_panel_wraps_depthwise_kernels(qtbot, lite, cat):
    panel = _shown(FiltersPanel(), qtbot)
    name = "features.2.0.depthwise.conv"
    panel.show_view(build_layer_view(lite, cat, LayerSettings(name)))
    weight = dict(lite.model.named_modules())[name].weight.detach().numpy()  # (96, 1, 3, 3)
    assert panel.wrap_columns == 10  # 96 kernels in a 10x10 grid
    # Kernel 23 (index order) is tile row 2, col 3; its weight (1, 2) is at this pixel.
    row_px, col_px = 1 + 2 * 4 + 1, 1 + 3 * 4 + 2
    assert panel.kernel_at(row_px, col_px) == (23, 0)
    panel.grid_view.scene().sigMouseMoved.emit(panel.grid_view.scene_pos_of(row_px, col_px))
    assert f"weight {weight[23, 0, 1, 2]:.4g}" in panel.readout.text()
    assert panel.kernel_at(0, 0) is None


def test_im2col_panel_shows_shapes_macs_and_check(qtbot, lite, cat):
    view = build_layer_view(lite, cat, LayerSettings("features.1.0.project.conv"))
    conv = dict(lite.model.named_modules())["features.1.0.project.conv"]
    panel = Im2colPanel()
    qtbot.addWidget(panel)
    panel.show_view(view)
    positions = view.activation.shape[1] * view.activation.shape[2]
    text = panel.summary.text()
    assert f"{conv.in_channels} × {positions}" in text
    assert f"{conv.out_channels} × {conv.in_channels}" in text
    assert f"{conv.out_channels * positions * conv.in_channels:,}" in text
    assert "✓" in text
    np.testing.assert_array_equal(panel.weight_view.image, view.im2col.weight_preview)
    panel.show_view(build_layer_view(lite, cat, LayerSettings("features.1.0.project.bn")))
    assert "No conv-as-matmul" in panel.summary.text() and panel.weight_view.image is None


def test_panels_take_the_presentation_theme(qtbot):
    panels = [
        LayerTreePanel(),
        FeatureMapsPanel(),
        LayerStatsPanel(),
        FiltersPanel(),
        Im2colPanel(),
    ]
    for panel in panels:
        qtbot.addWidget(panel)
        panel.apply_theme(PRESENTATION)
    assert panels[1].montage_view.backgroundBrush().color().name() == PRESENTATION.background
    assert panels[2].plot.backgroundBrush().color().name() == PRESENTATION.background

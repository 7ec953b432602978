"""Layer views against independent hooks on plain torchvision models, and their exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from meta_models import meta_engine
from pictures import opened
from torch import nn

from cnnviz.core.augment.spec import AugmentSettings, parse_spec
from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image
from cnnviz.core.inspect.capture import UnknownLayerError
from cnnviz.core.inspect.colormaps import COLORMAPS, apply_colormap, lookup_table
from cnnviz.core.inspect.export import (
    arrange_kernels,
    parse_channels,
    save_activations_npy,
    save_kernel_grid_png,
    save_montage_png,
    tile_patches,
    wrap_kernels,
)
from cnnviz.core.inspect.filters import kernel_grid
from cnnviz.core.inspect.settings import FIRST_CONV, LayerSettings
from cnnviz.core.inspect.view import (
    ReceptiveFieldRequest,
    build_layer_view,
    kernel_views,
    layer_tree_for,
)
from cnnviz.core.requests import QUIET, ModelKey
from cnnviz.core.session import Session
from cnnviz.core.zoo.registry import all_archs


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A resnet18 state dict with seeded random weights (no download needed)."""
    torch.manual_seed(7)
    model = torchvision.models.resnet18()
    path = tmp_path_factory.mktemp("weights") / "resnet18_seeded.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def engine(resnet18_file):
    return Engine.load("resnet18", weights_file=resnet18_file, device="cpu")


@pytest.fixture(scope="module")
def reference(resnet18_file):
    """A plain torchvision resnet18 with the same weights and its own preprocessing."""
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(resnet18_file))
    preprocess = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    return model.eval(), preprocess


@pytest.fixture(scope="module")
def cat(samples_dir):
    return load_image(samples_dir / "cat.jpg")


def _hooked(model: nn.Module, module: nn.Module, x: torch.Tensor, *, pre: bool = False) -> list:
    """Every output (or, with `pre`, first input) of `module` during model(x), cloned."""
    seen: list[torch.Tensor] = []
    if pre:
        handle = module.register_forward_pre_hook(lambda _m, i: seen.append(i[0].clone()))
    else:
        handle = module.register_forward_hook(lambda _m, _i, o: seen.append(o.clone()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen


@pytest.mark.parametrize("layer", ["layer3.1.conv2", "layer1.0.relu", "fc"])
def test_activation_is_exactly_the_torchvision_layer_output(
    engine, reference, cat, layer, tmp_path
):
    model, preprocess = reference
    view = build_layer_view(engine, cat, LayerSettings(layer))
    module = dict(model.named_modules())[layer]
    expected = _hooked(model, module, preprocess(cat).unsqueeze(0))[-1][0].numpy()
    assert view.activation.dtype == np.float32
    np.testing.assert_array_equal(view.activation, expected)
    saved = np.load(save_activations_npy(view.activation, tmp_path / "acts.npy"))
    np.testing.assert_array_equal(saved, expected)


def test_residual_add_is_the_relu_input_of_its_block(engine, reference, cat):
    model, preprocess = reference
    view = build_layer_view(engine, cat, LayerSettings("layer2.0.add"))
    # BasicBlock: out = relu(bn2(...) + identity); relu runs twice, the 2nd time on the sum.
    calls = _hooked(model, model.layer2[0].relu, preprocess(cat).unsqueeze(0), pre=True)
    np.testing.assert_array_equal(view.activation, calls[1][0].numpy())
    assert view.description.kind == "add" and view.kernels is None and view.im2col is None


def test_im2col_reproduces_the_conv_on_its_real_input(engine, reference, cat):
    model, preprocess = reference
    view = build_layer_view(engine, cat, LayerSettings("layer2.0.conv1"))
    report = view.im2col
    conv = model.layer2[0].conv1
    conv_input = _hooked(model, conv, preprocess(cat).unsqueeze(0), pre=True)[-1]
    assert report.input_shape == tuple(conv_input.shape)
    positions = view.activation.shape[1] * view.activation.shape[2]
    k = conv.in_channels * 9
    assert report.unfolded_shape == (k, positions) == (576, 28 * 28)
    assert report.macs == conv.out_channels * positions * k
    assert report.max_abs_diff <= 1e-4 * np.abs(view.activation).max()
    # The previews are corners of the real matrices for this input.
    cols = F.unfold(conv_input, 3, padding=1, stride=2)[0]
    np.testing.assert_allclose(report.unfolded_preview, cols[:32, :32].numpy(), atol=1e-6)
    weights = conv.weight.detach().reshape(conv.out_channels, -1)
    np.testing.assert_array_equal(report.weight_preview, weights[:32, :32].numpy())
    by_matmul = (weights @ cols).reshape(view.activation.shape).numpy()
    np.testing.assert_allclose(by_matmul, view.activation, atol=1e-4)


def test_depthwise_conv_im2col_on_efficientnet_lite(cat):
    lite = Engine.load("efficientnet_lite0", device="cpu")
    depthwise = next(
        name
        for name, m in lite.model.named_modules()
        if isinstance(m, nn.Conv2d) and m.groups > 1 and m.stride == (2, 2)
    )
    view = build_layer_view(lite, cat, LayerSettings(depthwise))
    assert view.im2col.groups == view.description.conv.groups > 1
    assert view.im2col.max_abs_diff <= 1e-4 * np.abs(view.activation).max()


def test_first_conv_default_kernels_and_patches(engine, cat):
    view = build_layer_view(engine, cat, LayerSettings(FIRST_CONV))
    assert view.layer == "conv1" and view.maps.shape == (64, 112, 112)
    weight = engine.model.conv1.weight.detach().numpy()
    assert view.patches.shape == (64, 7, 7, 3)
    # Patch k is kernel k as RGB, min-max scaled over its three channels together.
    k = 5
    rgb = weight[k].transpose(1, 2, 0)
    np.testing.assert_allclose(view.patches[k], (rgb - rgb.min()) / np.ptp(rgb), atol=1e-6)
    assert view.description.summary().endswith("k7 s2 p3")
    assert view.montage.grid_shape == (8, 8)


def test_batchnorm_layer_reports_its_buffers(engine, cat):
    view = build_layer_view(engine, cat, LayerSettings("layer1.0.bn1"))
    bn = engine.model.layer1[0].bn1
    np.testing.assert_array_equal(view.batchnorm["running_var"], bn.running_var.numpy())
    np.testing.assert_array_equal(view.batchnorm["weight"], bn.weight.detach().numpy())
    assert view.kernels is None and view.im2col is None


def test_flat_output_becomes_one_channel_per_feature(engine, reference, cat):
    view = build_layer_view(engine, cat, LayerSettings("fc"))
    assert view.activation.shape == (1000,) and view.maps.shape == (1000, 1, 1)
    np.testing.assert_array_equal(view.maps[:, 0, 0], view.activation)
    assert view.stats.dead_channels == int((view.activation <= 0).sum())


def test_unknown_layer_raises(engine, cat):
    with pytest.raises(UnknownLayerError):
        build_layer_view(engine, cat, LayerSettings("layer9.conv"))


@pytest.mark.parametrize("arch", list(all_archs()))
def test_every_registry_tree_lists_all_conv_layers(arch):
    engine = meta_engine(arch)
    tree = layer_tree_for(engine)
    nodes = {node.name: node for node in tree.modules()}
    convs = [(n, m) for n, m in engine.model.named_modules() if isinstance(m, nn.Conv2d)]
    assert convs
    for name, conv in convs:
        info = nodes[name].conv
        assert info is not None and nodes[name].ran, name
        assert (info.kernel_size, info.stride, info.groups) == (
            conv.kernel_size,
            conv.stride,
            conv.groups,
        )
    assert tree.joins_available, tree.trace_error


def test_receptive_field_request_matches_hand_formula(resnet18_file, samples_dir):
    session = Session()
    key = ModelKey("resnet18", str(resnet18_file), "cpu")
    image = str(samples_dir / "cat.jpg")
    # layer1.0.conv1 (56x56) unit (10, 10): 3x3 conv -> maxpool k3 s2 p1 -> conv1 k7 s2 p3
    # gives rows 9..11 -> 17..23 -> 31..49 of the 224x224 input.
    plain = ReceptiveFieldRequest(key, image, None, "layer1.0.conv1", 4, 10, 10)
    outcome = plain.execute(session, QUIET)
    assert outcome.box == (31, 31, 49, 49) and outcome.input_shape == (224, 224)
    flip = AugmentSettings(parse_spec("RandomHorizontalFlip(p=1.0)"))
    flipped = ReceptiveFieldRequest(key, image, flip, "layer1.0.conv1", 4, 0, 55)
    # Row 0, column 55 of 56: rows 0..1 -> 0..3 -> 0..9 and columns 54..55 -> 107..111
    # -> 211..225, clipped to the image.
    assert flipped.execute(session, QUIET).box == (0, 211, 9, 223)


def test_arrange_kernels_equals_a_direct_kernel_grid():
    torch.manual_seed(3)
    conv = nn.Conv2d(5, 6, 3)
    full = kernel_grid(conv)
    for order, inputs in (("l2", [4, 0, 2]), ("index", [1]), ("l2", None)):
        direct = kernel_grid(conv, order=order, input_channels=inputs)
        arranged = arrange_kernels(full, order=order, input_channels=inputs)
        np.testing.assert_array_equal(arranged.image, direct.image)
        np.testing.assert_array_equal(arranged.order, direct.order)


def test_tile_patches_places_each_patch_in_its_cell():
    patches = np.random.default_rng(0).random((5, 4, 3, 3), dtype=np.float32)
    tiled = tile_patches(patches, padding=1)
    assert tiled.shape == (2 * 5 + 1, 3 * 4 + 1, 3)
    np.testing.assert_array_equal(tiled[6:10, 5:8], patches[4])  # row 1, col 1
    assert np.isnan(tiled[0]).all() and np.isnan(tiled[6:10, 9:12]).all()  # gap, empty cell


def test_parse_channels():
    assert parse_channels("all", 4) == [0, 1, 2, 3]
    assert parse_channels(" 0-2, 7 ,1", 8) == [0, 1, 2, 7]
    for bad in ("3-1", "9", "x"):
        with pytest.raises(ValueError):
            parse_channels(bad, 8)


def test_colormaps_endpoints_and_gaps():
    assert tuple(lookup_table("viridis")[0]) == (68, 1, 84)
    assert tuple(lookup_table("viridis")[-1]) == (253, 231, 37)
    assert tuple(lookup_table("grey")[128]) == (128, 128, 128)
    assert tuple(lookup_table("diverging")[128]) == pytest.approx((247, 247, 247), abs=3)
    for name in COLORMAPS:
        assert lookup_table(name).shape == (256, 3)
    image = np.array([[0.0, np.nan], [1.0, 0.5]], np.float32)
    rgba = apply_colormap(image, "grey", gap=None)
    assert rgba[0, 1, 3] == 0 and rgba[0, 0, 3] == 255 and tuple(rgba[1, 0, :3]) == (255,) * 3


def test_montage_png_pixels_are_the_colormapped_montage(engine, cat, tmp_path):
    view = build_layer_view(engine, cat, LayerSettings("layer4.0.conv1", "shared", "max"))
    montage = view.montage
    path = save_montage_png(montage, tmp_path / "m.png", "magma", scale=3)
    png = np.asarray(opened(path))
    assert png.shape == (montage.image.shape[0] * 3, montage.image.shape[1] * 3, 3)
    # Channel with the largest max comes first; its tile's pixel is the LUT of its value.
    top = int(np.argmax(view.maps.reshape(512, -1).max(axis=1)))
    x, y, _w, _h = montage.channel_rect(top)
    assert (x, y) == (1, 1)
    low, high = view.maps.min(), view.maps.max()
    value = (view.maps[top, 2, 3] - low) / (high - low)
    expected = lookup_table("magma")[int(np.round(value * 255))]
    np.testing.assert_array_equal(png[(y + 2) * 3 + 1, (x + 3) * 3 + 1], expected)
    assert tuple(png[0, 0]) == (255, 255, 255)  # padding


def test_kernel_grid_png_is_diverging_around_zero(tmp_path):
    conv = nn.Conv2d(2, 3, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[1, 0, 1, 2] = -0.5
        conv.weight[2, 1, 0, 0] = 0.5
    png = np.asarray(opened(save_kernel_grid_png(kernel_grid(conv), tmp_path / "k.png")))
    table = lookup_table("diverging")
    # Cell (out o, in i) starts at row 1 + 4*o, col 1 + 4*i.
    np.testing.assert_array_equal(png[1 + 4 + 1, 1 + 2], table[0])  # -max -> bluest
    np.testing.assert_array_equal(png[1 + 8, 1 + 4], table[255])  # +max -> reddest
    np.testing.assert_array_equal(png[1, 1], table[128])  # zero -> the midpoint


def test_kernel_views_are_computed_from_the_weights_and_cached_per_model(resnet18_file):
    model = nn.Sequential(nn.Conv2d(3, 4, 3)).eval()
    with torch.no_grad():
        model[0].weight[2] = 0
    grid, patches = kernel_views(model, "0")
    assert grid.near_zero.tolist() == [False, False, True, False]
    np.testing.assert_array_equal(grid.image, kernel_grid(model[0]).image)
    assert patches is not None and patches.shape[0] == 4  # RGB input: colour patches too
    session = Session()
    session.engine_for(ModelKey("resnet18", str(resnet18_file), "cpu"))
    assert session.kernel_views("conv1") is session.kernel_views("conv1")


def test_wrap_kernels_tiles_a_depthwise_grid():
    torch.manual_seed(2)
    conv = nn.Conv2d(5, 5, 3, groups=5)
    grid = kernel_grid(conv, order="l2")
    image, cols = wrap_kernels(grid)
    assert cols == 3 and image.shape == (2 * 4 + 1, 3 * 4 + 1)
    weight = conv.weight.detach().numpy()
    for k, out in enumerate(grid.order):
        r, c = divmod(k, cols)
        expected = 0.5 + 0.5 * weight[out, 0] / np.abs(weight).max()
        np.testing.assert_allclose(
            image[1 + 4 * r : 4 + 4 * r, 1 + 4 * c : 4 + 4 * c], expected, atol=1e-6
        )
    assert np.isnan(image[5:8, 9:12]).all()  # the sixth cell is empty

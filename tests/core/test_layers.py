"""Layer tree: forward order, shapes, parameters, joins and their values."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import get_model

from cnnviz.core.inspect.capture import UnknownLayerError
from cnnviz.core.inspect.layers import (
    JoinNode,
    LayerNode,
    build_layer_tree,
    conv_layers,
    layer_output,
)
from cnnviz.core.inspect.receptive_field import receptive_field

ZOO = [
    "alexnet",
    "vgg11",
    "vgg16_bn",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "densenet121",
    "efficientnet_b0",
    "mobilenet_v3_small",
    "regnet_y_400mf",
    "convnext_tiny",
]
WITH_JOINS = set(ZOO) - {"alexnet", "vgg11", "vgg16_bn"}


def _build(name: str) -> nn.Module:
    kwargs = {"init_weights": False} if name in ("googlenet", "inception_v3") else {}
    torch.manual_seed(0)
    return get_model(name, weights=None, **kwargs).eval()


def _input(name: str) -> torch.Tensor:
    size = 299 if name == "inception_v3" else 224
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))


def _hook_record(model: nn.Module, x: torch.Tensor) -> tuple[list[str], dict, dict]:
    """First-call order, last-call output shapes and call counts, from plain hooks."""
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    counts: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():

        def pre(_m, _i, name=name):
            counts[name] = counts.get(name, 0) + 1
            if counts[name] == 1:
                order.append(name)

        def post(_m, _i, out, name=name):
            if isinstance(out, torch.Tensor):
                shapes[name] = tuple(out.shape)

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return order, shapes, counts


@pytest.fixture(scope="module", params=ZOO)
def zoo(request):
    name = request.param
    model = _build(name)
    x = _input(name)
    tree = build_layer_tree(model, x)
    return name, model, x, tree, _hook_record(model, x)


@pytest.mark.slow
def test_zoo_tree_matches_independent_hooks(zoo):
    name, model, x, tree, (order, shapes, counts) = zoo
    modules = tree.modules()
    ran = [n.name for n in modules if n.ran]
    assert ran == order, f"{name}: tree order differs from hook order"
    by_name = {n.name: n for n in modules}
    assert set(by_name) == {n for n, _ in model.named_modules()}
    for node in modules:
        assert node.output_shape == shapes.get(node.name), node.name
        assert node.call_count == counts.get(node.name, 0), node.name
        assert node.ran == (node.name in counts)
    # Every parameter belongs to exactly one module in these models.
    assert sum(n.own_params for n in modules) == sum(p.numel() for p in model.parameters())
    assert tree.root.total_params == sum(p.numel() for p in model.parameters())
    for conv_name, conv in model.named_modules():
        if isinstance(conv, nn.Conv2d):
            info = by_name[conv_name].conv
            assert info is not None
            assert (info.in_channels, info.out_channels, info.groups) == (
                conv.in_channels,
                conv.out_channels,
                conv.groups,
            )
            assert info.kernel_size == conv.kernel_size and info.stride == conv.stride
    # Children sit directly under their parent, one level deeper.
    for node in modules:
        for child in node.children:
            assert child.depth == node.depth + 1
            if isinstance(child, LayerNode):
                assert child.name.rpartition(".")[0] == node.name


@pytest.mark.slow
def test_zoo_joins_and_their_values(zoo):
    name, model, x, tree, _ = zoo
    assert tree.joins_available, tree.trace_error
    joins = tree.joins()
    assert bool(joins) == (name in WITH_JOINS)
    if not joins:
        return
    for join in (joins[0], joins[-1]):
        value = layer_output(model, x, join.name)
        assert tuple(value.shape) == join.output_shape
        assert join.kind in ("add", "concat")
        parent = tree.find(join.parent)
        assert join in parent.children
        if join.kind == "concat":
            assert value.shape[1] > 0 and len(join.inputs) >= 2
    # The deepest conv that runs has a receptive field, and it lies in the image.
    last_conv = [n.name for n in tree.modules() if n.conv is not None and n.ran][-1]
    _, _, h, w = tree.find(last_conv).output_shape
    box = receptive_field(model, x, last_conv, 0, h // 2, w // 2)
    assert box is not None
    top, left, bottom, right = box
    assert 0 <= top <= bottom < x.shape[2] and 0 <= left <= right < x.shape[3]


@pytest.fixture(scope="module")
def resnet18():
    model = _build("resnet18")
    x = _input("resnet18")
    return model, x, build_layer_tree(model, x)


def test_resnet18_blocks_have_a_residual_add_after_bn2(resnet18):
    _, _, tree = resnet18
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    for block in blocks:
        children = [c.name for c in tree.find(block).children]
        joins = [c for c in tree.find(block).children if isinstance(c, JoinNode)]
        assert [j.name for j in joins] == [f"{block}.add"]
        assert joins[0].kind == "add"
        # The add comes after bn2 and any downsample: the last thing the block runs.
        assert children.index(f"{block}.add") == len(children) - 1
        assert children.index(f"{block}.bn2") < children.index(f"{block}.add")
        assert f"{block}.bn2" in joins[0].inputs
    assert len(tree.joins()) == 8


def _capture(model, x, names, pre=()):
    """Clones of module outputs (and of inputs for `pre`), from plain hooks."""
    outs, ins, handles = {}, {}, []
    modules = dict(model.named_modules())

    def keep_out(name):
        def hook(_m, _i, out):
            outs.setdefault(name, out.clone())  # returns None: must not replace the output

        return hook

    def keep_in(name):
        def hook(_m, inputs):
            ins.setdefault(name, inputs[0].clone())

        return hook

    handles += [modules[n].register_forward_hook(keep_out(n)) for n in names]
    handles += [modules[n].register_forward_pre_hook(keep_in(n)) for n in pre]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return outs, ins


def test_resnet18_add_value_equals_bn2_plus_identity(resnet18):
    model, x, _ = resnet18
    outs, ins = _capture(
        model, x, ["layer1.0.bn2", "layer2.0.bn2", "layer2.0.downsample"], pre=["layer1.0"]
    )
    expected = outs["layer1.0.bn2"] + ins["layer1.0"]
    torch.testing.assert_close(layer_output(model, x, "layer1.0.add"), expected)
    # The block's output is the ReLU of the add.
    torch.testing.assert_close(layer_output(model, x, "layer1.0"), F.relu(expected))
    expected2 = outs["layer2.0.bn2"] + outs["layer2.0.downsample"]
    torch.testing.assert_close(layer_output(model, x, "layer2.0.add"), expected2)


def test_layer_output_for_modules_and_unknown_names(resnet18):
    model, x, _ = resnet18
    outs, _ = _capture(model, x, ["layer3.1.conv2"])
    torch.testing.assert_close(layer_output(model, x, "layer3.1.conv2"), outs["layer3.1.conv2"])
    with pytest.raises(UnknownLayerError):
        layer_output(model, x, "layer9.add")


def test_conv_layers_counts_resnet18_convs(resnet18):
    model, _, _ = resnet18
    # stem + 4 stages x 2 blocks x 2 convs + 3 downsample convs
    expected = 1 + 4 * 2 * 2 + 3
    names = conv_layers(model)
    assert len(names) == expected
    assert names[0] == "conv1" and "layer4.0.downsample.0" in names


def test_densenet_concatenations():
    model = _build("densenet121")
    x = torch.randn(1, 3, 64, 64)
    tree = build_layer_tree(model, x)
    concat = [j for j in tree.joins() if j.kind == "concat"]
    # 58 dense layers that concatenate 2+ tensors (6+12+24+16 minus each block's first)
    # plus one concatenation closing each of the 4 blocks.
    assert len(concat) == (6 + 12 + 24 + 16 - 4) + 4
    layer2 = tree.find("features.denseblock1.denselayer2")
    assert isinstance(layer2.children[0], JoinNode)  # the concat feeds norm1
    outs, _ = _capture(
        model, x, ["features.pool0", "features.denseblock1.denselayer1", "features.denseblock1"]
    )
    expected = torch.cat([outs["features.pool0"], outs["features.denseblock1.denselayer1"]], 1)
    value = layer_output(model, x, "features.denseblock1.denselayer2.cat")
    torch.testing.assert_close(value, expected)
    assert tuple(value.shape) == layer2.children[0].output_shape == (1, 64 + 32, 16, 16)
    block_cat = layer_output(model, x, "features.denseblock1.cat")
    torch.testing.assert_close(block_cat, outs["features.denseblock1"])


class _DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.sum() > 0:  # data-dependent control flow in the root: fx cannot trace this
            y = y + self.conv(x)
        return y


def test_untraceable_root_falls_back_without_joins():
    model = _DataDependent().eval()
    tree = build_layer_tree(model, torch.randn(1, 3, 8, 8))
    assert tree.joins_available is False
    assert tree.trace_error
    assert tree.joins() == []
    assert tree.find("conv").output_shape == (1, 4, 8, 8)


class _SizePad(nn.Module):
    """Padding computed from the input size, like TensorFlow 'SAME': untraceable by fx."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = max(3 - 1 - x.shape[-1] % 1, 0)
        return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))


class _PadBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pad = _SizePad()
        self.conv = nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x)) + x


def test_custom_untraceable_module_becomes_a_leaf():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), _PadBlock(), _PadBlock()).eval()
    x = torch.randn(1, 3, 10, 10)
    tree = build_layer_tree(model, x)
    assert tree.joins_available, tree.trace_error
    assert tree.traced_as_leaf == ("_SizePad",)
    assert [j.name for j in tree.joins()] == ["1.add", "2.add"]
    outs, ins = _capture(model, x, ["2.conv"], pre=["2"])
    torch.testing.assert_close(layer_output(model, x, "2.add"), outs["2.conv"] + ins["2"])


def test_efficientnet_lite_residual_adds():
    lite = pytest.importorskip("cnnviz.core.zoo.models.efficientnet_lite")
    model = lite.efficientnet_lite0().eval()
    x = torch.randn(1, 3, 96, 96)
    tree = build_layer_tree(model, x)
    assert tree.joins_available, tree.trace_error
    joins = tree.joins()
    assert joins and all(j.kind == "add" for j in joins)
    first = joins[0]
    block = first.parent
    assert [c.name for c in tree.find(block).children][-1] == first.name
    outs, ins = _capture(model, x, [f"{block}.project"], pre=[block])
    torch.testing.assert_close(
        layer_output(model, x, first.name), outs[f"{block}.project"] + ins[block]
    )


def test_lenet_tree():
    lenet = pytest.importorskip("cnnviz.core.zoo.models.lenet")
    model = lenet.lenet5().eval()
    tree = build_layer_tree(model, torch.randn(1, 3, 32, 32))
    assert tree.joins() == [] and tree.joins_available
    assert tree.find("features.3").output_shape == (1, 16, 10, 10)
    assert tree.find("features.3").conv.kernel_size == (5, 5)
    assert tree.root.output_shape == (1, 10)


def test_tree_leaves_model_state_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    before = model[1].running_mean.clone()
    build_layer_tree(model, torch.randn(2, 3, 8, 8) + 5)
    layer_output(model, torch.randn(2, 3, 8, 8) + 5, "1")
    assert model.training
    torch.testing.assert_close(model[1].running_mean, before)


def test_unused_module_is_listed_last_and_marked():
    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spare = nn.Linear(2, 2)
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    tree = build_layer_tree(WithSpare().eval(), torch.randn(1, 3, 4, 4))
    assert [c.name for c in tree.root.children] == ["conv", "spare"]
    spare = tree.find("spare")
    assert not spare.ran and spare.call_count == 0 and spare.output_shape is None
    assert spare.own_params == 2 * 2 + 2


def test_caches_do_not_keep_models_alive():
    model = _build("resnet18")
    x = torch.randn(1, 3, 64, 64)
    build_layer_tree(model, x)
    layer_output(model, x, "layer1.0.add")
    refs = [weakref.ref(model)]
    del model
    untraceable = _DataDependent().eval()
    assert not build_layer_tree(untraceable, torch.randn(1, 3, 8, 8)).joins_available
    refs.append(weakref.ref(untraceable))
    del untraceable
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_join_depth_and_parent_consistent(resnet18):
    _, _, tree = resnet18
    for join in tree.joins():
        parent = tree.find(join.parent)
        assert join.depth == parent.depth + 1
        assert join in parent.children

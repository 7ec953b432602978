"""EfficientNet-Lite: our port against the reference package, padding, hooks, weights."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.core.zoo.models import efficientnet_lite as lite
from cnnviz.core.zoo.registry import get_arch
from cnnviz.core.zoo.weights import Source, load_model

VARIANTS = ("lite0", "lite1", "lite2")
REPO = pathlib.Path(__file__).resolve().parents[2]


def _packaged_or_skip(variant: str) -> dict[str, torch.Tensor]:
    path = lite.packaged_weights_path(variant)
    if path is None:
        pytest.skip(f"weights package for {variant} is not installed")
    return torch.load(path, map_location="cpu", weights_only=True)


def _pretrained(variant: str) -> lite.EfficientNetLite:
    """Our model with the packaged weights, loaded the way the app loads them."""
    _packaged_or_skip(variant)
    model, info = load_model(get_arch(f"efficientnet_{variant}"))
    assert info.source is Source.BUNDLED and isinstance(model, lite.EfficientNetLite)
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_match_reference_package(variant: str) -> None:
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    path = lite.packaged_weights_path(variant)
    if path is None:
        pytest.skip(f"weights package for {variant} is not installed")
    name = f"efficientnet-{variant}"
    # The reference pads statically for its nominal size unless image_size is None.
    ref_static = reference.EfficientNet.from_pretrained(name, weights_path=str(path)).eval()
    ref_dynamic = reference.EfficientNet.from_pretrained(
        name, weights_path=str(path), image_size=None
    ).eval()
    ours = _pretrained(variant)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in ref_static.parameters()
    )

    gen = torch.Generator().manual_seed(0)
    res = lite.LITE_VARIANTS[variant].resolution
    square = torch.randn(2, 3, res, res, generator=gen)
    odd = torch.randn(1, 3, 225, 231, generator=gen)
    with torch.no_grad():
        ours_square, ref_square = ours(square), ref_static(square)
        ours_odd, ref_odd = ours(odd), ref_dynamic(odd)
    assert ours_square.shape == (2, 1000)
    torch.testing.assert_close(ours_square, ref_square, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours_odd, ref_odd, atol=1e-4, rtol=0)
    # Guards against a vacuous match (e.g. both collapsing to a constant).
    assert ours_square.std() > 0.5


def _layer_signature(model: nn.Module) -> list[tuple]:
    """Every conv and batch norm, in registration order, by its hyperparameters."""
    rows = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            stride = tuple(m.stride)
            rows.append(("conv", m.in_channels, m.out_channels, m.kernel_size, stride, m.groups))
        elif isinstance(m, nn.BatchNorm2d):
            rows.append(("bn", m.num_features, m.eps, round(m.momentum, 6)))
        elif isinstance(m, nn.Linear):
            rows.append(("linear", m.in_features, m.out_features))
    return rows


def test_layer_table_matches_reference_package() -> None:
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    for variant in VARIANTS:
        ref = reference.EfficientNet.from_name(f"efficientnet-{variant}")
        ours = lite.efficientnet_lite(variant)
        assert _layer_signature(ours) == _layer_signature(ref), variant
        assert ours.classifier[0].p == ref._dropout.p


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_leaf_module_runs_exactly_once(variant: str) -> None:
    model = lite.efficientnet_lite(variant).eval()
    leaves = {name: m for name, m in model.named_modules() if not list(m.children())}
    calls = dict.fromkeys(leaves, 0)
    handles = []
    for name, module in leaves.items():

        def hook(_m: nn.Module, _i: tuple, _o: object, name: str = name) -> None:
            calls[name] += 1

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 64, 64))
    finally:
        for handle in handles:
            handle.remove()
    assert {n: c for n, c in calls.items() if c != 1} == {}
    # Stem + head, two per block, less one for the first block (it has no expansion).
    blocks = sum(len(stage) for stage in model.features[1:-1])
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU6)]
    assert len(relus) == 2 + 2 * blocks - 1
    assert len({id(m) for m in relus}) == len(relus)


def test_lite0_has_33_relu6_and_16_blocks() -> None:
    # Published Lite0 layout: 16 MBConv blocks, the first without an expansion conv.
    model = lite.efficientnet_lite0()
    assert sum(isinstance(m, lite.MBConvLite) for m in model.modules()) == 16
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 33


def test_every_conv_is_plain_and_unpadded() -> None:
    model = lite.efficientnet_lite2()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(type(m) is nn.Conv2d for m in convs)
    assert all(m.padding == (0, 0) and m.bias is None for m in convs)
    for name, module in model.named_modules():
        if isinstance(module, lite.ConvBNAct):
            conv = module.conv
            needs_pad = conv.kernel_size[0] > 1 or conv.stride[0] > 1
            assert hasattr(module, "pad") == needs_pad, name
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bn.eps == 1e-3 and bn.momentum == pytest.approx(0.01) for bn in bns)


def test_same_pad_matches_tensorflow_semantics() -> None:
    gen = torch.Generator().manual_seed(1)
    w3 = torch.randn(4, 3, 3, 3, generator=gen)
    w5 = torch.randn(4, 3, 5, 5, generator=gen)
    even = torch.randn(1, 3, 224, 224, generator=gen)
    odd = torch.randn(1, 3, 225, 225, generator=gen)

    def same(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
        return F.conv2d(lite.SamePad2d(k, s)(x), w3 if k == 3 else w5, stride=s)

    # TF on an even input with stride 2 and k=3 pads one pixel at the bottom/right only.
    torch.testing.assert_close(same(even, 3, 2), F.conv2d(F.pad(even, (0, 1, 0, 1)), w3, stride=2))
    # On an odd input, or with stride 1, SAME is PyTorch's symmetric padding.
    torch.testing.assert_close(same(odd, 3, 2), F.conv2d(odd, w3, stride=2, padding=1))
    torch.testing.assert_close(same(even, 3, 1), F.conv2d(even, w3, padding=1))
    # k=5, stride 2, even input: 3 pixels in all, 1 before and 2 after.
    torch.testing.assert_close(same(even, 5, 2), F.conv2d(F.pad(even, (1, 2, 1, 2)), w5, stride=2))
    for size in (1, 7, 31, 32, 33, 231):
        out = same(torch.randn(1, 3, size, size + 1, generator=gen), 3, 2)
        assert out.shape[-2:] == (-(-size // 2), -(-(size + 1) // 2))


def test_other_input_sizes_give_ceil_div_32_feature_maps() -> None:
    model = lite.efficientnet_lite0().eval()
    with torch.no_grad():
        feats = model.features(torch.randn(1, 3, 225, 231))
        logits = model(torch.randn(1, 3, 97, 130))
    assert feats.shape == (1, 1280, 8, 8)
    assert logits.shape == (1, 1000)


def test_stochastic_depth_only_in_training() -> None:
    block = lite.MBConvLite(16, 16, 3, 1, 6, drop_prob=1.0)
    x = torch.randn(2, 16, 8, 8)
    block.train()
    # With the branch always dropped, a training forward is the identity.
    torch.testing.assert_close(block(x), x)
    block.eval()
    assert not torch.allclose(block(x), x)


def test_no_residual_when_shape_changes() -> None:
    block = lite.MBConvLite(16, 24, 3, 2, 6).eval()
    assert block.stochastic_depth is None
    expected = block.project(block.depthwise(block.expand(torch.ones(1, 16, 8, 8))))
    torch.testing.assert_close(block(torch.ones(1, 16, 8, 8)), expected)


@pytest.mark.parametrize("variant", VARIANTS)
def test_packaged_weights_convert_and_load_strictly(variant: str) -> None:
    raw = _packaged_or_skip(variant)
    converted = lite.convert_reference_state_dict(raw, variant)
    model = lite.efficientnet_lite(variant)
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(model.features[0].conv.weight, raw["_conv_stem.weight"])
    torch.testing.assert_close(model.classifier[1].bias, raw["_fc.bias"])


def test_wrong_state_dicts_raise_naming_the_problem() -> None:
    raw = _packaged_or_skip("lite0")
    missing = {k: v for k, v in raw.items() if k != "_blocks.3._bn1.running_var"}
    with pytest.raises(ValueError, match=r"missing keys: _blocks\.3\._bn1\.running_var"):
        lite.convert_reference_state_dict(missing, "lite0")
    with pytest.raises(ValueError, match=r"unexpected keys: _extra\.weight"):
        lite.convert_reference_state_dict({**raw, "_extra.weight": torch.zeros(1)}, "lite0")
    reshaped = {**raw, "_fc.weight": torch.zeros(10, 1280)}
    with pytest.raises(ValueError, match=r"wrong shapes: _fc\.weight \(10, 1280\)"):
        lite.convert_reference_state_dict(reshaped, "lite0")
    # Lite1 has 21 blocks against Lite0's 16.
    with pytest.raises(ValueError, match=r"unexpected keys: _blocks\.16\."):
        lite.convert_reference_state_dict(_packaged_or_skip("lite1"), "lite0")
    with pytest.raises(ValueError, match="lite7"):
        lite.efficientnet_lite("lite7")


def test_preprocessing_constants() -> None:
    assert [lite.LITE_VARIANTS[v].resolution for v in VARIANTS] == [224, 240, 260]
    assert [lite.LITE_VARIANTS[v].resize for v in VARIANTS] == [256, 272, 292]
    assert lite.MEAN == lite.STD == (0.5, 0.5, 0.5)


def _grace_hopper() -> pathlib.Path | None:
    candidates = [
        REPO / "resources" / "samples" / "grace_hopper.jpg",
        pathlib.Path(
            "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/matplotlib/mpl-data/"
            "sample_data/grace_hopper.jpg"
        ),
    ]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None:
        mpl = pathlib.Path(spec.origin).parent
        candidates.append(mpl / "mpl-data" / "sample_data" / "grace_hopper.jpg")
    return next((p for p in candidates if p.is_file()), None)


@pytest.mark.parametrize("variant", VARIANTS)
def test_grace_hopper_is_in_uniform(variant: str) -> None:
    photo = _grace_hopper()
    if photo is None:
        pytest.skip("no grace_hopper.jpg available")
    from PIL import Image
    from torchvision.models import ResNet18_Weights
    from torchvision.transforms import v2

    cfg = lite.LITE_VARIANTS[variant]
    transform = v2.Compose(
        [
            v2.Resize(cfg.resize, interpolation=v2.InterpolationMode(cfg.interpolation)),
            v2.CenterCrop(cfg.resolution),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
        ]
    )
    with Image.open(photo) as img:
        batch = transform(img.convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        top5 = _pretrained(variant)(batch).topk(5).indices[0].tolist()
    names = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    assert "military uniform" in [names[i] for i in top5]

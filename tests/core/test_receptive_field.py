"""Receptive fields from gradients against the textbook formula."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import get_model

from cnnviz.core.inspect.receptive_field import receptive_field


def _field(layers: list[tuple[int, int, int]], pos: int, size: int) -> tuple[int, int]:
    """Input span of output index `pos` through (kernel, stride, padding) layers, clipped."""
    lo = hi = pos
    for k, s, p in reversed(layers):
        lo, hi = lo * s - p, hi * s - p + k - 1
    return max(lo, 0), min(hi, size - 1)


def test_single_3x3_conv():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 12, 12)
    assert receptive_field(conv, x, "", 1, 5, 7) == (4, 6, 6, 8)
    assert receptive_field(conv, x, "", 0, 0, 0) == (0, 0, 1, 1)  # clipped at the border


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return get_model("resnet18", weights=None).eval()


def test_resnet18_conv1_matches_formula(resnet18):
    x = torch.randn(1, 3, 224, 224)
    lo, hi = _field([(7, 2, 3)], 10, 224)
    assert (lo, hi) == (17, 23)
    assert receptive_field(resnet18, x, "conv1", 5, 10, 10) == (lo, lo, hi, hi)


def test_resnet18_maxpool_and_first_block_match_formula(resnet18):
    x = torch.randn(1, 3, 224, 224)
    stem = [(7, 2, 3), (3, 2, 1)]
    lo, hi = _field(stem, 9, 224)
    assert receptive_field(resnet18, x, "maxpool", 0, 9, 9) == (lo, lo, hi, hi)
    block = [*stem, (3, 1, 1), (3, 1, 1)]
    lo, hi = _field(block, 20, 224)
    # The block output is a ReLU: the structural field must not depend on it being on.
    assert receptive_field(resnet18, x, "layer1.0", 3, 20, 20) == (lo, lo, hi, hi)
    # The residual add sees the conv path, which is the wider one.
    assert receptive_field(resnet18, x, "layer1.0.add", 3, 20, 20) == (lo, lo, hi, hi)


def test_fields_grow_with_depth(resnet18):
    x = torch.randn(1, 3, 320, 320)
    layers = ["conv1", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    sizes = []
    for name, stride in zip(layers, [2, 4, 4, 8, 16, 32], strict=True):
        centre = 320 // stride // 2
        top, left, bottom, right = receptive_field(resnet18, x, name, 0, centre, centre)
        assert top <= 160 <= bottom + stride and left <= 160 <= right + stride
        sizes.append(bottom - top + 1)
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_plain_gradient_can_be_empty_but_structural_is_not():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU()).eval()
    with torch.no_grad():
        model[0].bias.fill_(-1e3)  # the ReLU is off everywhere
    x = torch.randn(1, 1, 9, 9)
    assert receptive_field(model, x, "1", 0, 2, 2, structural=False) is None
    assert receptive_field(model, x, "1", 0, 2, 2) == (2, 2, 4, 4)


def test_model_state_is_restored(resnet18):
    resnet18.train()
    try:
        receptive_field(resnet18, torch.randn(1, 3, 64, 64), "layer2", 0, 1, 1)
        assert resnet18.training
        assert all(p.grad is None for p in resnet18.parameters())
    finally:
        resnet18.eval()


def test_bad_positions_raise(resnet18):
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(IndexError):
        receptive_field(resnet18, x, "conv1", 0, 32, 0)  # conv1 output is 32x32
    with pytest.raises(IndexError):
        receptive_field(resnet18, x, "conv1", 64, 0, 0)

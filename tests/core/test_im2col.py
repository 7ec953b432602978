"""Convolution as unfold + matmul equals the convolution, for every conv flavour."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import get_model

from cnnviz.core.inspect.im2col import PREVIEW, conv_as_matmul


def _out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _expected_macs(conv: nn.Conv2d, h: int, w: int, pad: tuple[int, int]) -> int:
    """Output positions x output channels x (input channels per group x kernel area)."""
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    oh, ow = _out(h, kh, sh, pad[0], dh), _out(w, kw, sw, pad[1], dw)
    return conv.out_channels * oh * ow * (conv.in_channels // conv.groups) * kh * kw


CASES = {
    "plain": (nn.Conv2d(8, 16, 3, padding=1), 20, 20, (1, 1)),
    "strided": (nn.Conv2d(3, 12, 7, stride=2, padding=3, bias=False), 33, 29, (3, 3)),
    "grouped": (nn.Conv2d(32, 64, 3, padding=1, groups=4), 12, 12, (1, 1)),
    "depthwise": (nn.Conv2d(24, 24, 5, stride=2, padding=2, groups=24), 17, 17, (2, 2)),
    "dilated": (nn.Conv2d(6, 10, 3, padding=2, dilation=2), 15, 18, (2, 2)),
    "rect": (nn.Conv2d(4, 5, (1, 7), padding=(0, 3)), 9, 11, (0, 3)),
    "valid": (nn.Conv2d(4, 5, 3, padding="valid"), 9, 11, (0, 0)),
}


@pytest.mark.parametrize("case", CASES)
def test_matches_conv_and_counts_macs(case):
    torch.manual_seed(0)
    conv, h, w, pad = CASES[case]
    x = torch.randn(1, conv.in_channels, h, w)
    report = conv_as_matmul(conv, x)
    assert report.max_abs_diff < 1e-4
    assert report.macs == _expected_macs(conv, h, w, pad)
    kh, kw = conv.kernel_size
    k = conv.in_channels // conv.groups * kh * kw
    positions = _out(h, kh, conv.stride[0], pad[0], conv.dilation[0]) * _out(
        w, kw, conv.stride[1], pad[1], conv.dilation[1]
    )
    assert report.group_unfolded_shape == (k, positions)
    assert report.unfolded_shape == (k * conv.groups, positions)
    assert report.weight_matrix_shape == (conv.out_channels // conv.groups, k)
    assert report.output_shape == tuple(conv(x).shape)
    assert report.unfolded_bytes == 4 * k * conv.groups * positions
    assert report.input_bytes == 4 * x.numel()
    assert report.expansion == pytest.approx(report.unfolded_bytes / report.input_bytes)
    assert report.unfolded_preview.shape == (min(PREVIEW, k), min(PREVIEW, positions))


def test_preview_corners_are_the_matrices():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 6, 6)
    report = conv_as_matmul(conv, x)
    unfolded = torch.nn.functional.unfold(x, 3, padding=1)[0]
    torch.testing.assert_close(torch.from_numpy(report.unfolded_preview), unfolded[:32, :32])
    torch.testing.assert_close(
        torch.from_numpy(report.weight_preview), conv.weight.detach().reshape(3, -1)
    )
    torch.testing.assert_close(
        torch.from_numpy(report.output_preview), conv(x).detach().reshape(3, -1)[:, :32]
    )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k", [3, 4])
def test_same_string_padding(k):
    # An even kernel needs asymmetric padding; torch puts the extra pixel at the end.
    conv = nn.Conv2d(3, 4, k, padding="same", dilation=(1, 2))
    x = torch.randn(1, 3, 10, 13)
    report = conv_as_matmul(conv, x)
    assert report.max_abs_diff < 1e-4
    assert report.output_shape == (1, 4, 10, 13)
    assert report.macs == 4 * 10 * 13 * 3 * k * k


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_non_zero_padding_modes(mode):
    conv = nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode=mode)
    report = conv_as_matmul(conv, torch.randn(1, 3, 8, 9))
    assert report.max_abs_diff < 1e-4


def test_real_layers_from_resnext_and_mobilenet():
    torch.manual_seed(0)
    resnext = get_model("resnext50_32x4d", weights=None).eval()
    grouped = resnext.layer1[0].conv2
    assert grouped.groups == 32
    report = conv_as_matmul(grouped, torch.randn(1, 128, 56, 56))
    assert report.max_abs_diff < 1e-4
    assert report.macs == _expected_macs(grouped, 56, 56, (1, 1))
    mobile = get_model("mobilenet_v3_small", weights=None).eval()
    depthwise = mobile.features[1].block[0][0]
    assert depthwise.groups == depthwise.in_channels == depthwise.out_channels
    report = conv_as_matmul(depthwise, torch.randn(1, depthwise.in_channels, 112, 112))
    assert report.max_abs_diff < 1e-4
    assert report.macs == _expected_macs(depthwise, 112, 112, depthwise.padding)


def test_rejects_batches():
    with pytest.raises(ValueError):
        conv_as_matmul(nn.Conv2d(3, 4, 3), torch.randn(2, 3, 8, 8))

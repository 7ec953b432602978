"""Kernel images, kernel flags and BatchNorm parameters, on hand-made weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnviz.core.inspect.filters import batchnorm_params, first_layer_patches, kernel_grid


def _conv(out_c: int = 6, in_c: int = 3, k: int = 3, groups: int = 1, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(in_c, out_c, k, groups=groups)


def test_rgb_patches_are_per_kernel_min_max():
    conv = _conv(out_c=4, in_c=3, k=5)
    patches = first_layer_patches(conv)
    assert patches.shape == (4, 5, 5, 3)
    w = conv.weight.detach().numpy()
    for o in (0, 3):
        rgb = np.transpose(w[o], (1, 2, 0))  # (kh, kw, 3)
        ref = (rgb - rgb.min()) / (rgb.max() - rgb.min())
        np.testing.assert_allclose(patches[o], ref, rtol=1e-5, atol=1e-6)


def test_grey_patches_per_channel_and_constant_kernel():
    conv = _conv(out_c=3, in_c=2, k=3)
    with torch.no_grad():
        conv.weight[1, 0] = 0.25  # constant kernel: must not give NaN
    patches = first_layer_patches(conv)
    assert patches.shape == (3, 2, 3, 3)
    w = conv.weight.detach().numpy()
    ref = (w[2, 1] - w[2, 1].min()) / (w[2, 1].max() - w[2, 1].min())
    np.testing.assert_allclose(patches[2, 1], ref, rtol=1e-5, atol=1e-6)
    assert np.all(patches[1, 0] == 0) and np.isfinite(patches).all()


def test_kernel_grid_layout_and_values():
    conv = _conv(out_c=5, in_c=4, k=3)
    grid = kernel_grid(conv, input_channels=[1, 3], padding=1)
    assert grid.image.shape == (5 * 4 + 1, 2 * 4 + 1)
    w = conv.weight.detach().numpy().astype(np.float64)
    scale = np.abs(w).max()
    assert grid.scale == pytest.approx(scale)
    # Output channel 2, second chosen input channel (3): row 2, column 1.
    cell = grid.image[1 + 2 * 4 : 1 + 2 * 4 + 3, 1 + 1 * 4 : 1 + 1 * 4 + 3]
    np.testing.assert_allclose(cell, 0.5 + 0.5 * w[2, 3] / scale, rtol=1e-6)
    assert grid.kernel_at(1 + 2 * 4, 1 + 1 * 4) == (2, 3)
    assert grid.kernel_at(0, 0) is None
    np.testing.assert_allclose(grid.norms, np.sqrt((w.reshape(5, -1) ** 2).sum(axis=1)), rtol=1e-6)


def test_l2_order_sorts_by_norm_descending():
    conv = _conv(out_c=6, in_c=2, k=3)
    with torch.no_grad():
        for o in range(6):
            conv.weight[o] *= [0.1, 3.0, 1.0, 0.5, 2.0, 0.7][o] / conv.weight[o].norm()
    grid = kernel_grid(conv, order="l2")
    assert list(grid.order) == [1, 4, 2, 5, 3, 0]
    assert grid.kernel_at(1, 1) == (1, 0)


def test_zero_and_tiny_kernels_are_flagged():
    conv = _conv(out_c=8, in_c=3, k=3)
    with torch.no_grad():
        conv.weight[2] = 0.0
        conv.weight[6] *= 1e-5
    grid = kernel_grid(conv)
    assert list(np.flatnonzero(grid.near_zero)) == [2, 6]
    assert grid.duplicate_of[2] == -1  # a zero kernel is nobody's duplicate


def test_copied_kernel_is_flagged_with_its_partner():
    conv = _conv(out_c=7, in_c=3, k=3)
    with torch.no_grad():
        conv.weight[5] = conv.weight[1] * 2.0  # same direction, different norm
    grid = kernel_grid(conv)
    assert grid.duplicate_of[5] == 1 and grid.duplicate_of[1] == 5
    assert set(np.flatnonzero(grid.near_duplicate)) == {1, 5}
    flipped = _conv(out_c=7, in_c=3, k=3)
    with torch.no_grad():
        flipped.weight[5] = -flipped.weight[1]  # opposite kernels are not duplicates
    assert not kernel_grid(flipped).near_duplicate.any()


def test_depthwise_conv_grid():
    conv = _conv(out_c=8, in_c=8, k=3, groups=8)
    grid = kernel_grid(conv)
    assert grid.input_channels == (0,)
    assert grid.image.shape == (8 * 4 + 1, 1 * 4 + 1)
    with pytest.raises(ValueError):
        kernel_grid(conv, input_channels=[1])


def test_batchnorm_params():
    bn = nn.BatchNorm2d(4, eps=1e-3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.0, 1.0, -2.0, 0.5]))
        bn.running_var.copy_(torch.tensor([1.0, 4.0, 0.25, 9.0]))
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
        bn.bias.copy_(torch.tensor([0.0, 0.1, 0.2, 0.3]))
    p = batchnorm_params(bn)
    np.testing.assert_allclose(p["running_var"], [1.0, 4.0, 0.25, 9.0])
    np.testing.assert_allclose(p["weight"], [1.0, 2.0, 0.5, -1.0])
    np.testing.assert_allclose(p["bias"], [0.0, 0.1, 0.2, 0.3])
    # scale/shift reproduce what the layer computes in eval mode.
    x = torch.randn(2, 4, 3, 3)
    expected = bn.eval()(x).detach().numpy()
    got = x.numpy() * p["scale"][None, :, None, None] + p["shift"][None, :, None, None]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    plain = batchnorm_params(nn.BatchNorm2d(3, affine=False, track_running_stats=False))
    assert set(plain) == {"weight", "bias"}
    np.testing.assert_array_equal(plain["weight"], np.ones(3))

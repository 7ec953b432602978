"""Convolution kernels as images, kernel statistics, and BatchNorm parameters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from cnnviz.core.inspect.grids import KernelGrid, tile_cells

NEAR_ZERO_RATIO = 1e-3
DUPLICATE_COSINE = 0.99
KERNEL_ORDERS = ("index", "l2")


def _weight(conv: nn.Conv2d) -> np.ndarray:
    return conv.weight.detach().to("cpu", torch.float32).numpy()


def _minmax(array: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Scale to [0, 1] over `axes`; a constant block becomes zeros rather than NaN."""
    low = array.min(axis=axes, keepdims=True)
    span = array.max(axis=axes, keepdims=True) - low
    return ((array - low) / np.where(span > 0, span, 1.0)).astype(np.float32)


def first_layer_patches(conv: nn.Conv2d) -> np.ndarray:
    """Kernels as images: (out, kh, kw, 3) RGB for 3-channel input, else (out, in, kh, kw) grey.

    RGB patches are min-max scaled per output kernel over all three channels together,
    so the relative colour balance survives; grey patches are scaled per (out, in) kernel.
    """
    weight = _weight(conv)
    if conv.in_channels == 3 and conv.groups == 1:
        return _minmax(weight.transpose(0, 2, 3, 1), axes=(1, 2, 3))
    return _minmax(weight, axes=(2, 3))


def _duplicates(flat: np.ndarray, near_zero: np.ndarray) -> np.ndarray:
    if len(flat) < 2:
        return np.full(len(flat), -1, np.int64)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    unit = flat / np.where(norms > 0, norms, 1.0)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    similarity[near_zero, :] = -np.inf
    similarity[:, near_zero] = -np.inf
    partner = similarity.argmax(axis=1)
    best = similarity[np.arange(len(flat)), partner]
    return np.where(best > DUPLICATE_COSINE, partner, -1).astype(np.int64)


def kernel_grid(
    conv: nn.Conv2d,
    *,
    input_channels: Sequence[int] | None = None,
    order: str = "index",
    padding: int = 1,
) -> KernelGrid:
    """Lay out conv kernels (rows: output channels, columns: chosen input channels)."""
    if order not in KERNEL_ORDERS:
        raise ValueError(f"order must be one of {KERNEL_ORDERS}, got {order!r}")
    weight = _weight(conv).astype(np.float64)
    out_c, in_c, kh, kw = weight.shape
    chosen = tuple(range(in_c)) if input_channels is None else tuple(int(i) for i in input_channels)
    if any(i < 0 or i >= in_c for i in chosen):
        raise ValueError(f"input channels must lie in [0, {in_c}) for this layer")
    flat = weight.reshape(out_c, -1)
    norms = np.linalg.norm(flat, axis=1)
    near_zero = (norms < NEAR_ZERO_RATIO * np.median(norms)) | (norms == 0)
    duplicate_of = _duplicates(flat, near_zero)
    # Strongest first; stable so equal norms keep index order.
    rows = np.argsort(-norms, kind="stable") if order == "l2" else np.arange(out_c)
    scale = float(np.abs(weight).max())
    shown = 0.5 + 0.5 * weight[rows][:, list(chosen)] / (scale if scale > 0 else 1.0)
    return KernelGrid(
        image=tile_cells(shown, padding),
        order=rows.astype(np.int64),
        input_channels=chosen,
        norms=norms.astype(np.float32),
        near_zero=near_zero,
        duplicate_of=duplicate_of,
        scale=scale,
        cell_shape=(kh, kw),
        padding=padding,
    )


def batchnorm_params(bn: nn.modules.batchnorm._BatchNorm) -> dict[str, np.ndarray]:
    """running_mean, running_var, weight and bias of a BatchNorm layer as float32 arrays.

    A non-affine layer reports weight 1 and bias 0 (what it computes). When running
    statistics are tracked, "scale" = weight / sqrt(var + eps) and "shift" =
    bias - mean * scale give the per-channel affine map the layer applies in eval mode.
    A layer without running statistics has none of the mean/var/scale/shift keys.
    """

    def arr(t: torch.Tensor) -> np.ndarray:
        return t.detach().to("cpu", torch.float32).numpy().copy()

    n = bn.num_features
    params = {
        "weight": arr(bn.weight) if bn.weight is not None else np.ones(n, np.float32),
        "bias": arr(bn.bias) if bn.bias is not None else np.zeros(n, np.float32),
    }
    if bn.running_mean is not None and bn.running_var is not None:
        params["running_mean"] = arr(bn.running_mean)
        params["running_var"] = arr(bn.running_var)
        scale = params["weight"] / np.sqrt(params["running_var"] + np.float32(bn.eps))
        params["scale"] = scale.astype(np.float32)
        params["shift"] = (params["bias"] - params["running_mean"] * scale).astype(np.float32)
    return params

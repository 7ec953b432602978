"""A convolution redone as unfold (im2col) followed by one matrix product per group."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PREVIEW = 32
_FLOAT32_BYTES = 4


@dataclass(frozen=True)
class Im2colReport:
    """Shapes, costs, matrix previews and the check of conv-as-matmul against the conv.

    Matrices are per group: the unfolded input of group g is (K, L) with
    K = in_channels/groups * kh * kw and L = output positions; the weight matrix is
    (out_channels/groups, K). `unfolded_shape` is the whole unfolded input (groups*K, L).
    Previews are the top-left PREVIEW x PREVIEW corners of group 0's matrices.
    `macs` counts multiply-accumulates of the matmuls (bias additions excluded).
    """

    input_shape: tuple[int, ...]
    padded_shape: tuple[int, ...]
    groups: int
    unfolded_shape: tuple[int, int]
    group_unfolded_shape: tuple[int, int]
    weight_matrix_shape: tuple[int, int]
    output_shape: tuple[int, ...]
    macs: int
    input_bytes: int
    unfolded_bytes: int
    unfolded_preview: np.ndarray
    weight_preview: np.ndarray
    output_preview: np.ndarray
    max_abs_diff: float

    @property
    def expansion(self) -> float:
        """How many times larger the unfolded input is than the input itself."""
        return self.unfolded_bytes / self.input_bytes


def _explicit_padding(conv: nn.Conv2d) -> list[int]:
    """F.pad amounts (left, right, top, bottom) equivalent to the conv's own padding."""
    if conv.padding == "valid":
        return [0, 0, 0, 0]
    if conv.padding == "same":
        pads: list[int] = []
        # Width first, as F.pad wants; torch puts the odd extra pixel on the right/bottom.
        for k, d in zip(reversed(conv.kernel_size), reversed(conv.dilation), strict=True):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return pads
    assert not isinstance(conv.padding, str), f"unknown padding {conv.padding!r}"
    ph, pw = conv.padding
    return [pw, pw, ph, ph]


def _out_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def _preview(matrix: torch.Tensor) -> np.ndarray:
    return matrix[:PREVIEW, :PREVIEW].detach().to("cpu", torch.float32).numpy().copy()


def conv_as_matmul(conv: nn.Conv2d, x: torch.Tensor) -> Im2colReport:
    """Compute `conv(x)` as unfold → per-group matmul (+ bias) and report on the way."""
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one (1, C, H, W) input, got shape {tuple(x.shape)}")
    with torch.no_grad():
        mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
        padded = F.pad(x, _explicit_padding(conv), mode=mode)
        unfolded = F.unfold(
            padded, conv.kernel_size, dilation=conv.dilation, padding=0, stride=conv.stride
        )[0]
        g = conv.groups
        out_c = conv.out_channels
        k = unfolded.shape[0] // g
        positions = unfolded.shape[1]
        # unfold orders rows channel-major (c, i, j), so each group's rows are contiguous.
        cols = unfolded.reshape(g, k, positions)
        weights = conv.weight.reshape(g, out_c // g, k)
        result = torch.bmm(weights, cols).reshape(out_c, positions)
        if conv.bias is not None:
            result = result + conv.bias[:, None]
        out_h, out_w = (
            _out_size(padded.shape[2 + i], conv.kernel_size[i], conv.stride[i], conv.dilation[i])
            for i in (0, 1)
        )
        output = result.reshape(1, out_c, out_h, out_w)
        reference = conv(x)
        diff = float((output - reference).abs().max())
    return Im2colReport(
        input_shape=tuple(x.shape),
        padded_shape=tuple(padded.shape),
        groups=g,
        unfolded_shape=(int(unfolded.shape[0]), int(positions)),
        group_unfolded_shape=(int(k), int(positions)),
        weight_matrix_shape=(out_c // g, int(k)),
        output_shape=tuple(output.shape),
        macs=int(out_c * positions * k),
        input_bytes=int(x.numel()) * _FLOAT32_BYTES,
        unfolded_bytes=int(unfolded.numel()) * _FLOAT32_BYTES,
        unfolded_preview=_preview(cols[0]),
        weight_preview=_preview(weights[0]),
        output_preview=_preview(result),
        max_abs_diff=diff,
    )

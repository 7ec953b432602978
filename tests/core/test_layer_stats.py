"""Activation statistics against numpy computed independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnviz.core.inspect.stats import activation_stats


@pytest.fixture
def relu_like() -> np.ndarray:
    rng = np.random.default_rng(3)
    act = np.maximum(rng.normal(size=(8, 6, 5)), 0).astype(np.float32)
    act[2] = 0.0  # dead: all zero
    act[5] = -np.abs(act[5]) - 0.1  # dead: all negative
    return act


def test_stats_match_numpy(relu_like):
    stats = activation_stats(torch.from_numpy(relu_like))
    ref = relu_like.astype(np.float64)
    assert stats.mean == pytest.approx(ref.mean(), rel=1e-9)
    assert stats.std == pytest.approx(np.sqrt(((ref - ref.mean()) ** 2).mean()), rel=1e-9)
    assert stats.min == pytest.approx(float(relu_like.min()))
    assert stats.max == pytest.approx(float(relu_like.max()))
    assert stats.zero_fraction == pytest.approx(np.sum(relu_like == 0) / relu_like.size)
    assert stats.dead_channels == 2
    assert list(stats.dead_channel_indices) == [2, 5]
    for ch in range(8):
        assert stats.channel_mean[ch] == pytest.approx(ref[ch].mean(), rel=1e-9, abs=1e-12)
        assert stats.channel_max[ch] == pytest.approx(relu_like[ch].max())


def test_histogram_matches_numpy(relu_like):
    stats = activation_stats(relu_like, bins=64)
    counts, edges = np.histogram(relu_like.ravel(), bins=64)
    np.testing.assert_array_equal(stats.hist_counts, counts)
    np.testing.assert_allclose(stats.hist_edges, edges)
    assert stats.hist_counts.sum() == relu_like.size


def test_batch_of_one_is_accepted_and_other_shapes_rejected(relu_like):
    a = activation_stats(relu_like)
    b = activation_stats(torch.from_numpy(relu_like)[None])
    assert a.mean == b.mean and a.dead_channels == b.dead_channels
    with pytest.raises(ValueError):
        activation_stats(np.zeros((2, 3)))

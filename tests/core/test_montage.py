"""Feature-map montage: normalisation, ordering, layout and pixel <-> channel mapping."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from cnnviz.core.inspect.montage import make_montage


def _activation(c: int = 10, h: int = 5, w: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(c, h, w)).astype(np.float32)


def _tile(montage, channel: int) -> np.ndarray:
    x, y, w, h = montage.channel_rect(channel)
    return montage.image[y : y + h, x : x + w]


def test_channel_normalisation_matches_hand_min_max():
    act = _activation()
    m = make_montage(act, normalise="channel")
    for ch in (0, 3, 9):
        ref = (act[ch] - act[ch].min()) / (act[ch].max() - act[ch].min())
        np.testing.assert_allclose(_tile(m, ch), ref, rtol=1e-6, atol=1e-6)
    assert m.image.dtype == np.float32 and m.image.ndim == 2


def test_shared_normalisation_uses_one_range():
    act = _activation()
    act[2] *= 10  # one loud channel sets the shared range
    m = make_montage(torch.from_numpy(act), normalise="shared")
    lo, hi = act.min(), act.max()
    for ch in (0, 2, 5):
        np.testing.assert_allclose(_tile(m, ch), (act[ch] - lo) / (hi - lo), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.channel_min, act.reshape(10, -1).min(axis=1))
    np.testing.assert_allclose(m.channel_max, act.reshape(10, -1).max(axis=1))


def test_constant_channels_become_zero_not_nan():
    act = _activation(c=4)
    act[1] = 3.0
    act[2] = 0.0
    m = make_montage(act)
    assert np.all(_tile(m, 1) == 0) and np.all(_tile(m, 2) == 0)
    flat = make_montage(np.full((3, 4, 4), 7.0, np.float32), normalise="shared")
    tiles = [_tile(flat, c) for c in range(3)]
    assert all(np.all(t == 0) for t in tiles)


def test_tiles_are_finite_and_gaps_hold_pad_value():
    act = _activation(c=7, h=3, w=3)
    m = make_montage(act, padding=2)
    covered = np.zeros(m.image.shape, bool)
    for ch in range(7):
        x, y, w, h = m.channel_rect(ch)
        covered[y : y + h, x : x + w] = True
    assert np.isfinite(m.image[covered]).all()
    assert (m.image[covered] >= 0).all() and (m.image[covered] <= 1).all()
    assert np.isnan(m.image[~covered]).all()
    zero_pad = make_montage(act, padding=2, pad_value=0.0)
    assert (zero_pad.image[~covered] == 0).all()


@pytest.mark.parametrize("order", ["mean", "max"])
def test_sort_orders_put_strongest_first(order):
    act = _activation(c=12)
    m = make_montage(act, order=order)
    score = act.reshape(12, -1).mean(axis=1) if order == "mean" else act.reshape(12, -1).max(axis=1)
    assert list(m.order) == sorted(range(12), key=lambda c: -score[c])
    assert m.channel_at(*_first_tile_pixel(m)) == int(np.argmax(score))


def _first_tile_pixel(m) -> tuple[int, int]:
    return m.padding, m.padding


def test_index_order_and_near_square_grid():
    m = make_montage(_activation(c=10, h=4, w=6), padding=1)
    assert list(m.order) == list(range(10))
    assert m.grid_shape == (3, 4)  # ceil(sqrt(10)) columns
    assert m.image.shape == (3 * (4 + 1) + 1, 4 * (6 + 1) + 1)
    assert m.channel_rect(0) == (1, 1, 6, 4)
    assert m.channel_rect(5) == (1 + 1 * 7, 1 + 1 * 5, 6, 4)
    wide = make_montage(_activation(c=10), columns=5)
    assert wide.grid_shape == (2, 5)


def test_channel_at_and_channel_rect_are_inverse():
    m = make_montage(_activation(c=11, h=3, w=4), order="max", padding=2)
    seen = set()
    for r in range(m.image.shape[0]):
        for c in range(m.image.shape[1]):
            ch = m.channel_at(r, c)
            if ch is None:
                assert np.isnan(m.image[r, c])
                continue
            x, y, w, h = m.channel_rect(ch)
            assert x <= c < x + w and y <= r < y + h
            seen.add(ch)
    assert seen == set(range(11))
    for ch in range(11):
        x, y, w, h = m.channel_rect(ch)
        assert m.channel_at(y, x) == ch and m.channel_at(y + h - 1, x + w - 1) == ch
    assert m.channel_at(-1, 0) is None
    with pytest.raises(KeyError):
        m.channel_rect(11)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        make_montage(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError):
        make_montage(_activation(), normalise="global")
    with pytest.raises(ValueError):
        make_montage(_activation(), order="random")


def test_large_montages_are_fast():
    # Loose bound (the real figure is ~1 ms) so a busy CI machine does not flake.
    for c, s in ((512, 14), (64, 112), (2048, 7)):
        act = torch.randn(c, s, s)
        start = time.perf_counter()
        make_montage(act)
        assert time.perf_counter() - start < 0.5

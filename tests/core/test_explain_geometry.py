"""Map resampling, the way back to the original photo, class lookup, overlays, Spearman."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

from cnnviz.core.errors import UserError
from cnnviz.core.explain import (
    UnknownClassError,
    map_to_original,
    render_overlay,
    resample,
    resolve_class,
    spearman,
)
from cnnviz.core.inspect.colormaps import lookup_table
from cnnviz.core.zoo.registry import get_arch

CATEGORIES = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


def test_resample_enlarges_like_torch_bilinear():
    rng = np.random.default_rng(0)
    small = rng.random((7, 9)).astype(np.float32)
    expected = F.interpolate(
        torch.from_numpy(small)[None, None], size=(224, 200), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(resample(small, (224, 200)), expected, atol=1e-5)


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "resnet50", "lenet5"])
@pytest.mark.parametrize("size", [(451, 300), (300, 451)])
def test_a_model_input_map_lands_where_the_photo_was(arch, size):
    """Mark a square in a photo, preprocess with torchvision's own transforms, find the mark in
    the model input, map that mask back: it must cover the square on the photo."""
    spec = get_arch(arch)
    cols, rows = size
    photo = np.full((rows, cols, 3), 40, dtype=np.uint8)
    top, left = rows // 2 - 20, cols // 2 + 10
    photo[top : top + 100, left : left + 140] = 255
    x = spec.preprocess()(Image.fromarray(photo))
    mask = (x.mean(0) > x.mean()).float().numpy()
    back = map_to_original(spec, mask, (rows, cols))
    assert back.shape == (rows, cols)
    square = np.zeros((rows, cols), bool)
    square[top : top + 100, left : left + 140] = True
    found = np.nan_to_num(back) > 0.5
    iou = (found & square).sum() / (found | square).sum()
    assert iou > (0.85 if arch != "lenet5" else 0.75)  # LeNet sees the photo at 32×32
    if arch != "lenet5":  # a centre crop: the cut-off sides of the longer edge are NaN
        long_axis = 1 if cols > rows else 0
        edge = back[:, :5] if long_axis == 1 else back[:5, :]
        assert np.isnan(edge).all() and np.isfinite(back[rows // 2, cols // 2])


def test_classes_by_index_and_by_name():
    assert resolve_class(CATEGORIES, 281) == 281
    assert resolve_class(CATEGORIES, "281") == 281
    assert resolve_class(CATEGORIES, "tiger") == CATEGORIES.index("tiger")  # exact beats part
    assert resolve_class(CATEGORIES, "EGYPTIAN") == CATEGORIES.index("Egyptian cat")
    with pytest.raises(UnknownClassError, match="tiger cat") as info:
        resolve_class(CATEGORIES, "cat")
    assert "Persian cat" in str(info.value) and len(str(info.value).splitlines()) == 1
    with pytest.raises(UnknownClassError, match="no class"):
        resolve_class(CATEGORIES, "spaceship")
    with pytest.raises(UnknownClassError, match="0..999"):
        resolve_class(CATEGORIES, 1000)
    assert issubclass(UnknownClassError, UserError)


def test_overlay_blends_with_opacity_and_skips_nan():
    rgb = np.full((4, 6, 3), 100, dtype=np.uint8)
    heat = np.ones((4, 6), dtype=np.float32)
    heat[0, 0] = np.nan
    top_colour = lookup_table("inferno")[-1].astype(np.float64)
    half = render_overlay(rgb, heat, colormap="inferno", opacity=0.5)
    np.testing.assert_array_equal(half[1, 1], np.round((100 + top_colour) / 2).astype(np.uint8))
    np.testing.assert_array_equal(half[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(render_overlay(rgb, heat, opacity=0.0), rgb)
    small = render_overlay(rgb, np.ones((2, 3), np.float32), opacity=1.0)  # stretched to fit
    assert (small == top_colour.astype(np.uint8)).all()


def test_spearman_agrees_with_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a = np.round(rng.random((7, 7)) * 4)  # many ties, like a ReLU'd CAM
    b = a + rng.normal(0, 1.0, a.shape)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    assert spearman(a, a) == 1.0
    assert np.isnan(spearman(np.zeros(5), np.arange(5.0)))

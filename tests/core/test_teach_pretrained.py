"""Pre-trained vs random: the same layer's maps and filters from both weight sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz.core.teach.pretrained import NotAConvLayerError, conv2d_layers, pretrained_vs_random
from cnnviz.core.zoo.models.efficientnet_lite import efficientnet_lite0


@pytest.fixture(scope="module")
def cat(samples_dir):
    with Image.open(samples_dir / "cat.jpg") as im:
        return im.convert("RGB")


def _capture(model, x, layer):
    seen = {}
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda _m, _i, o: seen.update(y=o[0].clone()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen["y"]


def test_maps_and_filters_of_both_weight_sets(lite_engine, cat):
    layer = "features.0.conv"
    assert conv2d_layers(lite_engine.model)[0] == layer
    result = pretrained_vs_random(lite_engine, cat, layer, seed=7)
    x = lite_engine.to_tensor(cat)[None]
    np.testing.assert_array_equal(result.trained.maps, _capture(lite_engine.model, x, layer)[:16])
    trained_w = lite_engine.model.features[0].conv.weight.detach()
    np.testing.assert_array_equal(result.trained.filters, trained_w[:16].numpy())
    # The test's own random model: the same builder under the same seed.
    torch.manual_seed(7)
    rand = efficientnet_lite0().eval()
    np.testing.assert_array_equal(result.random.maps, _capture(rand, x, layer)[:16])
    np.testing.assert_array_equal(
        result.random.filters, rand.features[0].conv.weight.detach()[:16].numpy()
    )
    assert not np.allclose(result.random.filters, result.trained.filters)
    assert result.random.filters.shape == (16, 3, 3, 3)
    with pytest.raises(NotAConvLayerError):
        pretrained_vs_random(lite_engine, cat, "features.0.bn")

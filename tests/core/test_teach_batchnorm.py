"""Inside a BatchNorm2d layer: x̂ and γx̂ + β equal a hand computation from running stats."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnviz.core.teach.batchnorm import NotABatchNormLayerError, batchnorm_at, batchnorm_layers


@pytest.fixture(scope="module")
def cat(samples_dir):
    with Image.open(samples_dir / "cat.jpg") as im:
        return im.convert("RGB")


def test_xhat_and_affine_equal_a_hand_computation(lite_engine, cat):
    names = batchnorm_layers(lite_engine.model)
    assert names[0] == "features.0.bn" and len(names) == 49
    layer = "features.1.0.depthwise.bn"
    bn = dict(lite_engine.model.named_modules())[layer]
    view = batchnorm_at(lite_engine, cat, layer)
    # Hand computation in numpy from the module's own running statistics and parameters.
    mean = bn.running_mean.detach().numpy().astype(np.float64)
    var = bn.running_var.detach().numpy().astype(np.float64)
    gamma = bn.weight.detach().numpy().astype(np.float64)
    beta = bn.bias.detach().numpy().astype(np.float64)
    x = view.input.astype(np.float64)
    xhat = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + bn.eps)
    np.testing.assert_allclose(view.normalised, xhat, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        view.output, gamma[:, None, None] * xhat + beta[:, None, None], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(view.running_mean, mean)
    np.testing.assert_allclose(view.input_mean, x.reshape(len(x), -1).mean(1), rtol=1e-9)
    np.testing.assert_allclose(view.input_var, x.reshape(len(x), -1).var(1), rtol=1e-9)
    assert view.layer_output_max_error < 1e-4  # γx̂+β is what the layer itself output
    assert view.input.shape == (bn.num_features, 112, 112)
    counts, edges = view.histograms(3, bins=20)["normalised"]
    assert counts.sum() == 112 * 112 and edges[0] == pytest.approx(xhat[3].min(), rel=1e-5)


def test_not_a_batchnorm_layer(lite_engine, cat):
    with pytest.raises(NotABatchNormLayerError):
        batchnorm_at(lite_engine, cat, "features.0.conv")

"""The preprocessing strip ends in exactly the engine's model input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import ResNet18_Weights

from cnnviz.core.engine import Engine
from cnnviz.core.teach.preprocess import NoPreprocessStripError, preprocess_strip


@pytest.fixture(scope="module")
def photo(samples_dir):
    with Image.open(samples_dir / "palace.jpg") as im:
        return im.convert("RGB")


def test_lite_strip_ends_in_the_model_input(lite_engine, photo):
    strip = preprocess_strip(lite_engine, photo)
    expected = lite_engine.to_tensor(photo).numpy()
    np.testing.assert_array_equal(strip.tensor, expected)
    assert strip.interpolation == "bicubic"
    w, h = photo.size
    short = strip.resize_size[0]
    rh, rw = strip.resized.shape[:2]
    assert min(rh, rw) == short and abs(rw / rh - w / h) < 0.01
    top, left, ch, cw = strip.crop_box
    assert (ch, cw) == (224, 224) and top == round((rh - 224) / 2) and left == round((rw - 224) / 2)
    np.testing.assert_array_equal(strip.cropped, strip.resized[top : top + ch, left : left + cw])
    # Hand computation of the normalisation from the crop's pixels.
    mean, std = np.array(strip.mean)[:, None, None], np.array(strip.std)[:, None, None]
    by_hand = (strip.cropped.transpose(2, 0, 1) / 255.0 - mean) / std
    np.testing.assert_allclose(strip.tensor, by_hand, atol=1e-5)
    assert strip.before.counts.sum(axis=1).tolist() == [224 * 224] * 3
    assert strip.after.counts.sum(axis=1).tolist() == [224 * 224] * 3
    assert strip.after.mean[0] == pytest.approx(float(expected[0].mean()), abs=1e-6)
    # Normalising is an affine map per channel: the same counts on mapped edges.
    np.testing.assert_array_equal(strip.after.counts, strip.before.counts)
    np.testing.assert_allclose(
        strip.after.edges, (strip.before.edges - mean[:, :, 0]) / std[:, :, 0]
    )


def test_resnet_strip_equals_weights_transforms(photo):
    torch.manual_seed(0)
    engine = Engine.load("resnet18", device="cpu")
    strip = preprocess_strip(engine, photo)
    reference = ResNet18_Weights.IMAGENET1K_V1.transforms()(photo)  # torchvision's own
    np.testing.assert_array_equal(strip.tensor, reference.numpy())
    assert strip.interpolation == "bilinear" and strip.resize_size == (256,)
    np.testing.assert_array_equal(strip.after.counts, strip.before.counts)


def test_lenet_has_no_strip(photo):
    engine = Engine.load("lenet5", device="cpu")
    with pytest.raises(NoPreprocessStripError):
        preprocess_strip(engine, photo)

"""LeNet-5: architecture, preprocessing, and the bundled digit weights."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from cnnviz.core.zoo.models.lenet import (
    MEAN,
    STD,
    LeNet5,
    lenet5,
    lenet_transforms,
)
from cnnviz.core.zoo.registry import get_arch
from cnnviz.core.zoo.weights import Source, load_model

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
WEIGHTS = RESOURCES / "weights" / "lenet5_digits.safetensors"
METADATA = RESOURCES / "weights" / "lenet5_digits.json"
DIGITS = sorted((RESOURCES / "samples" / "digits").glob("digit_*.png"))


def _bundled_model() -> nn.Module:
    """The shipped LeNet-5, loaded the way the app loads it."""
    model, info = load_model(get_arch("lenet5"))
    assert info.source is Source.BUNDLED and info.path.endswith("lenet5_digits.safetensors")
    return model


def test_layers_match_the_classic_definition() -> None:
    model = lenet5()
    assert isinstance(model, LeNet5)
    expected_features = [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    expected_classifier = [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [type(m) for m in model.features] == expected_features
    assert [type(m) for m in model.classifier] == expected_classifier
    f, c = model.features, model.classifier
    assert (f[0].in_channels, f[0].out_channels, f[0].kernel_size) == (3, 6, (5, 5))
    assert (f[3].in_channels, f[3].out_channels, f[3].kernel_size) == (6, 16, (5, 5))
    assert f[2].kernel_size == 2 and f[5].kernel_size == 2
    assert [(m.in_features, m.out_features) for m in c[0::2]] == [(400, 120), (120, 84), (84, 10)]
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len({id(m) for m in relus}) == 4


def test_parameter_count_matches_hand_count() -> None:
    conv1 = 6 * 3 * 5 * 5 + 6
    conv2 = 16 * 6 * 5 * 5 + 16
    fc1 = (16 * 5 * 5) * 120 + 120
    fc2 = 120 * 84 + 84
    fc3 = 84 * 10 + 10
    assert conv1 + conv2 + fc1 + fc2 + fc3 == 62006
    assert sum(p.numel() for p in lenet5().parameters()) == conv1 + conv2 + fc1 + fc2 + fc3


def test_num_classes_changes_only_the_head() -> None:
    model = lenet5(num_classes=3)
    assert model.classifier[4].out_features == 3
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_forward_equals_functional_reference() -> None:
    torch.manual_seed(0)
    model = lenet5().eval()
    x = torch.randn(4, 3, 32, 32)
    f, c = model.features, model.classifier
    # Spelled out with torch.nn.functional: 32 -conv5-> 28 -pool-> 14 -conv5-> 10 -pool-> 5.
    h = F.max_pool2d(F.relu(F.conv2d(x, f[0].weight, f[0].bias)), 2)
    assert h.shape == (4, 6, 14, 14)
    h = F.max_pool2d(F.relu(F.conv2d(h, f[3].weight, f[3].bias)), 2)
    assert h.shape == (4, 16, 5, 5)
    h = h.reshape(4, 400)
    h = F.relu(F.linear(h, c[0].weight, c[0].bias))
    h = F.relu(F.linear(h, c[2].weight, c[2].bias))
    expected = F.linear(h, c[4].weight, c[4].bias)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


def test_transforms_equal_hand_written_preprocessing() -> None:
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), "RGB")
    got = lenet_transforms()(image)
    gray = image.resize((32, 32), Image.Resampling.BILINEAR).convert("L")
    plane = torch.from_numpy(np.asarray(gray, dtype=np.float32) / 255.0)
    expected = ((plane - MEAN[0]) / STD[0]).expand(3, 32, 32)
    assert got.shape == (3, 32, 32) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_weights_file_is_plain_safetensors_and_loads_strict() -> None:
    state = load_file(str(WEIGHTS))
    reference = lenet5().state_dict()
    assert set(state) == set(reference)
    assert all(state[k].shape == reference[k].shape for k in state)
    assert all(state[k].dtype == torch.float32 for k in state)
    lenet5().load_state_dict(state, strict=True)
    model = _bundled_model()
    assert not model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name])


def test_metadata_describes_the_shipped_file() -> None:
    meta = json.loads(METADATA.read_text())
    assert meta["sha256"] == hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    assert meta["split"]["train"] + meta["split"]["test"] == 1797
    assert meta["test_accuracy"] >= 0.95
    assert meta["preprocessing"]["mean"] == list(MEAN)
    assert meta["preprocessing"]["std"] == list(STD)
    # The constants in lenet.py are rounded from what the training script measured.
    assert abs(meta["preprocessing"]["measured_train_mean"] - MEAN[0]) < 5e-4
    assert abs(meta["preprocessing"]["measured_train_std"] - STD[0]) < 5e-4


def test_bundled_digits_are_classified() -> None:
    assert len(DIGITS) == 10
    model = _bundled_model()
    tf = lenet_transforms()
    correct = 0
    for path in DIGITS:
        label = int(re.fullmatch(r"digit_(\d)\.png", path.name).group(1))
        with Image.open(path) as image:
            x = tf(image.convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            correct += int(model(x).argmax(1)) == label
    assert correct >= 9


def test_inverted_digits_are_not_recognised_as_well() -> None:
    # Guards the ink-polarity choice: light-on-dark input is outside what the model learned.
    model = _bundled_model()
    tf = lenet_transforms()
    scores = {}
    for polarity in ("as_shipped", "inverted"):
        correct = 0
        for path in DIGITS:
            label = int(path.stem[-1])
            with Image.open(path) as image:
                gray = image.convert("L")
            if polarity == "inverted":
                gray = Image.eval(gray, lambda v: 255 - v)
            with torch.no_grad():
                correct += int(model(tf(gray.convert("RGB")).unsqueeze(0)).argmax(1)) == label
        scores[polarity] = correct
    assert scores["as_shipped"] > scores["inverted"]


@pytest.mark.parametrize("size", [(64, 64), (200, 120)])
def test_transforms_accept_any_size(size: tuple[int, int]) -> None:
    assert lenet_transforms()(Image.new("RGB", size, "white")).shape == (3, 32, 32)

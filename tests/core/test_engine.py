"""The engine against independent references: torchvision's transforms and a plain forward."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.transforms import v2

from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image
from cnnviz.core.zoo.registry import get_arch
from cnnviz.core.zoo.weights import Source, WeightsInfo


@pytest.fixture(scope="module")
def photo(samples_dir) -> Image.Image:
    return load_image(samples_dir / "cat.jpg")


def _engine(name: str, seed: int = 0) -> Engine:
    torch.manual_seed(seed)
    spec = get_arch(name)
    model = spec.builder().eval()
    return Engine(spec, model, WeightsInfo(Source.RANDOM, None, None, "test"), torch.device("cpu"))


@pytest.mark.parametrize("name", ["resnet50", "inception_v3", "efficientnet_b0", "alexnet"])
def test_preprocessing_equals_torchvision_weights_transforms(name, photo):
    ours = _engine(name).to_tensor(photo)
    theirs = torchvision.models.get_model_weights(name).DEFAULT.transforms()(photo)
    assert ours.shape == theirs.shape
    assert torch.equal(ours, theirs)


def test_lite_preprocessing_is_bicubic_resize256_crop224_minus1_to_1(photo):
    reference = v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(256, interpolation=v2.InterpolationMode.BICUBIC, antialias=True),
            v2.CenterCrop(224),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )(photo)
    ours = _engine("efficientnet_lite0").to_tensor(photo)
    assert ours.shape == (3, 224, 224)
    assert ours.min() >= -1.0 and ours.max() <= 1.0
    # PIL and tensor resizing round differently by at most a grey level or so.
    assert (ours - reference).abs().max() < 2.5 / 127.5


def test_probabilities_equal_a_plain_forward(photo):
    engine = _engine("resnet18", seed=7)
    reference_model = copy.deepcopy(engine.model).eval()
    x = torchvision.models.ResNet18_Weights.DEFAULT.transforms()(photo).unsqueeze(0)
    with torch.no_grad():
        expected = torch.softmax(reference_model(x), dim=1)[0]
    prediction = engine.predict(photo, topk=5)
    assert np.allclose(prediction.probabilities, expected.numpy(), atol=1e-6)
    top = expected.topk(5)
    assert [c.index for c in prediction.top] == top.indices.tolist()
    assert [c.rank for c in prediction.top] == [1, 2, 3, 4, 5]
    assert prediction.top[0].label == get_arch("resnet18").categories[int(top.indices[0])]
    assert (
        prediction.model_input.shape == (224, 224, 3) and prediction.model_input.dtype == np.uint8
    )


def test_model_input_is_the_denormalised_tensor(photo):
    engine = _engine("resnet18")
    prediction = engine.predict(photo)
    expected = v2.Compose([v2.PILToTensor(), v2.Resize(256), v2.CenterCrop(224)])(photo)
    diff = np.abs(
        prediction.model_input.astype(int) - expected.permute(1, 2, 0).numpy().astype(int)
    )
    assert np.percentile(diff, 99) <= 3


def test_captured_activations_equal_an_independent_hook(photo):
    engine = _engine("resnet18", seed=2)
    seen = {}

    def hook(_module, _inputs, output) -> None:  # returns None, so the output is untouched
        seen["out"] = output.detach().clone()

    handle = engine.model.layer2[1].conv2.register_forward_hook(hook)
    prediction, captured = engine.predict_capturing(photo, "layer2.1.conv2")
    handle.remove()
    assert torch.equal(captured.output, seen["out"])
    # The capture rides on the prediction's own forward: the numbers are the plain ones.
    np.testing.assert_array_equal(prediction.probabilities, engine.predict(photo).probabilities)
    # The stem ReLU runs in place; its capture must not be overwritten by later layers.
    _, relu = engine.predict_capturing(photo, "relu")
    assert relu.output.min() >= 0
    assert tuple(relu.output.shape) == (1, 64, 112, 112)
    assert not engine.model.layer2[1].conv2._forward_hooks
    assert not engine.model.relu._forward_hooks


class _OutOfMemoryOnce(torch.nn.Module):
    """Raises CUDA's OOM error for any input not on the CPU, like a full GPU would."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 1000)

    def forward(self, x):
        if x.device.type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.linear(x.mean(dim=(2, 3)))


def test_out_of_memory_falls_back_to_cpu_and_says_so(photo):
    spec = get_arch("resnet18")
    engine = Engine(
        spec, _OutOfMemoryOnce(), WeightsInfo(Source.RANDOM, None, None, ""), torch.device("cpu")
    )
    engine.device = torch.device("meta")  # stands in for an accelerator that is full
    prediction = engine.predict(photo)
    assert prediction.device == "cpu" and engine.device.type == "cpu"
    assert "ran out of memory; now running on the CPU" in prediction.notice
    assert engine.predict(photo).notice is None  # announced once


@pytest.mark.cuda
def test_real_cuda_out_of_memory_falls_back(photo):
    engine = Engine.load("resnet50", device="cuda")
    torch.cuda.set_per_process_memory_fraction(0.001)
    try:
        probs = engine.classify([torch.zeros(3, 512, 512, dtype=torch.uint8)] * 64)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert probs.shape == (64, 1000) and engine.device.type == "cpu"


@pytest.mark.cuda
def test_cuda_matches_cpu(photo):
    cpu = _engine("resnet18", seed=4)
    gpu = Engine(cpu.spec, copy.deepcopy(cpu.model), cpu.weights, torch.device("cuda"))
    a, b = cpu.predict(photo), gpu.predict(photo)
    assert b.device.startswith("cuda")
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-4)


def test_default_model_classifies_real_photos_sensibly(samples_dir):
    """Expected classes were chosen by people looking at the photos, not by a model."""
    engine = Engine.load("efficientnet_lite0", device="cpu")
    assert engine.weights.source is Source.BUNDLED
    entries = [
        e
        for e in json.loads((samples_dir / "samples.json").read_text())
        if e.get("expected_imagenet")
    ]
    assert len(entries) >= 4
    hits = 0
    for entry in entries:
        top5 = {c.label for c in engine.predict(load_image(samples_dir / entry["file"])).top}
        hits += bool(top5 & set(entry["expected_imagenet"]))
    assert hits == len(entries)

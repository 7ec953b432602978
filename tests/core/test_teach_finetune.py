"""Fine-tuning a new linear head on a frozen Lite0 backbone, and reloading it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz.core.engine import Engine
from cnnviz.core.teach.finetune import (
    FineTuneError,
    finetune,
    holdout_split,
    scan_class_folders,
)
from cnnviz.core.zoo.head import read_head
from cnnviz.core.zoo.weights import WeightsError


def _stripes(rng: np.random.Generator, vertical: bool) -> Image.Image:
    """Random-coloured stripes of random width and phase; the class is their direction."""
    size = 64
    period = int(rng.integers(6, 16))
    phase = int(rng.integers(0, period))
    ramp = ((np.arange(size) + phase) % period) < period / 2
    mask = np.tile(ramp, (size, 1)) if vertical else np.tile(ramp[:, None], (1, size))
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    img = np.where(mask[..., None], a, b) + rng.normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def stripe_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("stripes")
    rng = np.random.default_rng(0)
    for name, vertical in (("horizontal", False), ("vertical", True)):
        (root / name).mkdir()
        for i in range(12):
            _stripes(rng, vertical).save(root / name / f"{i:02d}.png")
    (root / "empty").mkdir()  # a folder without images is no class
    (root / "notes.txt").write_text("not an image folder")
    return root


def test_scan_and_split(stripe_set):
    folders = scan_class_folders(stripe_set)
    assert folders.classes == ("horizontal", "vertical") and len(folders.paths) == 24
    mask = holdout_split(folders.labels, 0.25, seed=1)
    assert mask.sum() == 6 and mask[:12].sum() == 3  # 3 of each class
    assert np.array_equal(mask, holdout_split(folders.labels, 0.25, seed=1))
    with pytest.raises(FineTuneError):
        scan_class_folders(stripe_set / "horizontal")  # images, but no class folders


@pytest.fixture(scope="module")
def trained(lite_engine, stripe_set, tmp_path_factory):
    epochs_seen = []
    out = tmp_path_factory.mktemp("head") / "stripes.safetensors"
    result = finetune(
        lite_engine,
        stripe_set,
        epochs=150,
        holdout=0.25,
        seed=0,
        out=out,
        on_epoch=lambda e, loss, acc: epochs_seen.append(loss),
    )
    return result, out, epochs_seen


def test_finetune_beats_chance_and_the_head_reloads(lite_engine, trained):
    result, out, epochs_seen = trained
    assert len(epochs_seen) == 150 and epochs_seen[-1] < epochs_seen[0]
    assert result.train_accuracy == 1.0
    assert result.heldout_count == 6 and result.heldout_accuracy >= 5 / 6  # chance is 1/2
    head = read_head(out)
    assert head is not None and head.classes == ("horizontal", "vertical")
    assert head.layer == "classifier.1" and head.weight.shape == (2, 1280)
    # The engine on the same architecture with the head predicts the head's classes,
    # identically to the trained head applied to the frozen features.
    tuned = Engine.load("efficientnet_lite0", weights_file=out, device="cpu")
    assert tuned.spec.categories == ("horizontal", "vertical")
    for path, probs in zip(result.heldout_paths, result.heldout_probabilities, strict=True):
        with Image.open(path) as im:
            p = tuned.predict(im.convert("RGB"), topk=2)
        np.testing.assert_allclose(p.probabilities, probs, atol=1e-5)
        assert p.top[0].label == ("vertical" if probs[1] > probs[0] else "horizontal")
    # The caller's engine keeps its 1000 ImageNet classes.
    assert lite_engine.spec.num_classes == 1000
    assert lite_engine.model.classifier[1].out_features == 1000


def test_head_on_another_arch_or_random_backbone_is_refused(trained, stripe_set):
    out = trained[1]
    with pytest.raises(WeightsError):
        Engine.load("efficientnet_lite1", weights_file=out, device="cpu")
    torch.manual_seed(0)
    with pytest.raises(FineTuneError):
        finetune(Engine.load("resnet18", device="cpu"), stripe_set, epochs=5)


def test_cancel_during_features(lite_engine, stripe_set):
    result = finetune(lite_engine, stripe_set, epochs=5, cancelled=lambda: True)
    assert result.cancelled and result.losses == ()


@pytest.mark.parametrize(
    "tensors, classes, fault",
    [
        ({"weight": (2, 8), "bias": (2,)}, "not json", "class names"),
        ({"weight": (2, 8), "bias": (2,)}, '["only one"]', "class names"),
        ({"weight": (3, 8), "bias": (2,)}, '["a", "b"]', "do not fit"),
        ({"weight": (2, 8), "bias": (2,), "extra": (1,)}, '["a", "b"]', "weight and bias"),
        ({"weight": (2, 8), "bias": (2,)}, '["a", "b"]', "NaN"),
    ],
)
def test_malformed_head_files_are_refused(tmp_path, tensors, classes, fault):
    from safetensors.torch import save_file

    from cnnviz.core.zoo.head import HEAD_FORMAT

    data = {k: torch.zeros(shape) for k, shape in tensors.items()}
    if fault == "NaN":
        data["weight"][0, 0] = float("nan")
    path = tmp_path / "bad.safetensors"
    meta = {"format": HEAD_FORMAT, "arch": "efficientnet_lite0", "layer": "classifier.1"}
    save_file(data, str(path), metadata={**meta, "classes": classes})
    with pytest.raises(WeightsError, match=fault):
        Engine.load("efficientnet_lite0", weights_file=path, device="cpu")

"""`cnnviz explain`: the JSON record, the .npy map, augmentation and one-line user errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torchvision
from explain_models import seeded_resnet18_file
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from cnnviz.cli import build_parser, main
from cnnviz.cli.explain import _Defaults
from cnnviz.core.explain import ExplainOptions, explain
from cnnviz.core.explain.methods import model_input
from cnnviz.core.images import load_image

KEYS = {"image", "arch", "method", "layer", "class", "map_shape", "weights"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return seeded_resnet18_file(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def cat_path(samples_dir):
    return str(samples_dir / "cat.jpg")


def run(capsys, *argv):
    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def resnet_args(weights):
    return ["--arch", "resnet18", "--weights", str(weights), "--device", "cpu"]


def test_json_and_npy_of_gradcam(capsys, weights, cat_path, tmp_path):
    npy, png = tmp_path / "map.npy", tmp_path / "overlay.png"
    code, out, _ = run(
        capsys, cat_path, *resnet_args(weights), "--json", "--npy", str(npy), "--out", str(png)
    )
    assert code == 0
    record = json.loads(out)
    assert set(record) == KEYS
    assert set(record["class"]) == {"index", "label", "probability"}
    assert set(record["weights"]) == {"source", "sha256"}
    assert record["weights"] == {
        "source": "file",
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    assert (record["arch"], record["method"], record["layer"]) == (
        "resnet18",
        "gradcam",
        "layer4.1",
    )
    # The default class is the top-1 of a plain torchvision forward with its own transforms.
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(weights))
    model.eval()
    with Image.open(cat_path) as photo:
        x = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()(photo.convert("RGB"))
    with torch.inference_mode():
        probs = torch.softmax(model(x.unsqueeze(0)), 1)[0]
    top = int(probs.argmax())
    assert record["class"]["index"] == top
    assert record["class"]["probability"] == pytest.approx(float(probs[top]), rel=1e-4)
    assert record["map_shape"] == [7, 7] and np.load(npy).shape == (7, 7)
    assert np.load(npy).dtype == np.float32
    with Image.open(png) as overlay:
        assert overlay.size == (224, 224)


def test_pixel_method_npy_is_at_model_input_size(capsys, cat_path, tmp_path):
    npy = tmp_path / "map.npy"
    code, out, _ = run(
        capsys,
        cat_path,
        "--method",
        "saliency",
        "--class",
        "Egyptian cat",
        "--npy",
        str(npy),
        "--json",
    )
    record = json.loads(out)
    assert code == 0 and record["layer"] is None and record["class"]["index"] == 285
    assert record["map_shape"] == [224, 224] and np.load(npy).shape == (224, 224)


def test_ig_summary_reports_completeness_against_the_plain_logits(
    capsys, cat_path, tmp_path, lite_engine
):
    npy = tmp_path / "ig.npy"
    code, out, _ = run(capsys, cat_path, "--method", "ig", "--steps", "8", "--npy", str(npy))
    assert code == 0
    line = next(t for t in out.splitlines() if "completeness" in t)
    error = float(line.split(" by ")[1].split("%")[0]) / 100
    evaluations = int(line.split(" after ")[1].split()[0])
    assert 8 <= evaluations <= 32
    # The same error computed here: the map's sum against a plain forward's logit gap.
    x = model_input(lite_engine, load_image(cat_path))
    with torch.inference_mode():
        logits = lite_engine.model(torch.cat([x, torch.full_like(x, -1.0)]))  # photo, black
    target = int(logits[0].argmax())
    gap = float(logits[0, target] - logits[1, target])
    total = float(np.load(npy).astype(np.float64).sum())
    assert error == pytest.approx(abs(total - gap) / abs(gap), abs=1e-4)


def test_augment_explains_the_augmented_image(capsys, cat_path, tmp_path, lite_engine):
    npy = tmp_path / "flipped.npy"
    spec = "RandomHorizontalFlip(p=1.0)"
    argv = [cat_path, "--method", "saliency", "--class", "281", "--augment", spec]
    assert run(capsys, *argv, "--npy", str(npy))[0] == 0
    # The lab hands the engine the augmented uint8 tensor: here flipped by hand.
    with Image.open(cat_path) as photo:
        flipped = torch.flip(pil_to_tensor(photo.convert("RGB")), dims=[-1])
    expected = explain(lite_engine, flipped, "saliency", target_class=281).map
    np.testing.assert_allclose(np.load(npy), expected, rtol=1e-4, atol=1e-6 * expected.max())


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--layer", "features.99"], "no layer named 'features.99'"),
        (["--layer", "classifier.1"], "not a (N, C, H, W)"),
        (["--class", "spaceship"], "no class matches"),
        (["--class", "cat"], "matches 8 classes"),
        (["--class", "5000"], "out of range"),
        (["--method", "lime"], "unknown method 'lime'"),
        (["--method", "ig", "--steps", "0"], "steps must be at least 1"),
    ],
)
def test_bad_layer_class_or_method_exit_2_with_one_line(capsys, cat_path, extra, needle):
    code, out, err = run(capsys, cat_path, *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("cnnviz: error: ") and needle in err


def test_every_option_says_its_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command" or a.choices)
    explain = sub.choices["explain"]
    for action in explain._actions:
        if action.dest in ("help", "image"):
            continue
        assert action.help and "default" in action.help, action.dest
    defaults = ExplainOptions()
    for name in ("samples", "noise", "steps", "baseline", "patch", "stride", "fill", "batch_size"):
        assert getattr(_Defaults, name) == getattr(defaults, name), name

"""The command line in a real subprocess: JSON output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest
from pictures import opened

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def cnnviz(*args: str, cwd=None) -> subprocess.CompletedProcess:
    # Not the checkout's root: `python -m` would import the source tree instead of the install.
    return subprocess.run(
        [sys.executable, "-m", "cnnviz", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd or tempfile.gettempdir(),
        timeout=300,
    )


def test_predict_json_and_bad_inputs_in_one_call(tmp_path, samples_dir):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    cat = str(samples_dir / "cat.jpg")
    result = cnnviz(
        "predict",
        cat,
        str(broken),
        str(tmp_path / "missing.png"),
        cat,
        "--json",
        "--topk",
        "3",
        "--device",
        "cpu",
    )
    assert result.returncode == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["image"] for o in lines] == [cat, cat]
    first = lines[0]
    assert first["arch"] == "efficientnet_lite0" and first["device"] == "cpu"
    assert first["weights"]["source"] == "bundled" and len(first["weights"]["sha256"]) == 64
    ranks = [p["rank"] for p in first["predictions"]]
    probs = [p["probability"] for p in first["predictions"]]
    assert ranks == [1, 2, 3] and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert {"index", "label"} <= set(first["predictions"][0])
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert errors[0].startswith("cnnviz: error: broken.jpg")
    assert "missing.png: file not found" in errors[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "resnet9000"], "unknown architecture 'resnet9000'"),
        (
            ["--device", "cuda"]
            if not __import__("torch").cuda.is_available()
            else ["--device", "tpu"],
            "cnnviz: error:",
        ),
        (["--weights", "/nonexistent/w.pth"], "weights file not found"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message, samples_dir):
    result = cnnviz("predict", str(samples_dir / "cat.jpg"), *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_untrained_model_warns(samples_dir):
    result = cnnviz("predict", str(samples_dir / "cat.jpg"), "--arch", "alexnet", "--json")
    assert result.returncode == 0
    assert "UNTRAINED" in result.stderr
    assert json.loads(result.stdout)["weights"]["source"] == "random"


def test_models_json_lists_the_zoo():
    result = cnnviz("models", "--json")
    assert result.returncode == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["efficientnet_lite0"]["weights"] == "offline"
    assert rows["lenet5"]["weights"] == "offline"
    assert rows["resnet50"]["weights"] in ("downloadable", "cached")
    assert rows["resnet50"]["params"] == 25557032


def test_predict_with_augmentation_matches_a_hand_applied_transform(samples_dir, tmp_path):
    import torch
    from torchvision.transforms.v2 import functional as F

    from cnnviz.core.engine import Engine
    from cnnviz.core.images import load_image

    cat = samples_dir / "cat.jpg"
    result = cnnviz(
        "predict",
        str(cat),
        "--json",
        "--device",
        "cpu",
        "--augment",
        "RandomVerticalFlip(p=1.0)",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["augment"]["spec"] == "RandomVerticalFlip(p=1.0)"
    # Reference: flip the pixels by hand, then torchvision's own preprocessing and forward.
    engine = Engine.load("efficientnet_lite0", device="cpu")
    flipped = F.vertical_flip(load_image(cat))
    with torch.no_grad():
        probs = torch.softmax(engine.model(engine.spec.preprocess()(flipped)[None]), 1)[0]
    top = probs.topk(5)
    assert [p["index"] for p in record["predictions"]] == top.indices.tolist()
    for p, q in zip(record["predictions"], top.values.tolist(), strict=True):
        assert abs(p["probability"] - q) < 1e-5


def test_invalid_augment_spec_names_the_bad_part(samples_dir, tmp_path):
    result = cnnviz(
        "predict",
        str(samples_dir / "cat.jpg"),
        "--augment",
        "RandomHorizontalFlip(p=1.0); RandomRotation(angle=3)",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "RandomRotation" in line and "'angle'" in line


def test_features_and_filters_commands_end_to_end(samples_dir, tmp_path):
    import numpy as np
    import torch

    from cnnviz.core.engine import Engine
    from cnnviz.core.images import load_image

    digit = samples_dir / "digits" / "digit_2.png"
    npy, png = tmp_path / "acts.npy", tmp_path / "grid.png"
    done = cnnviz(
        "features",
        str(digit),
        "--arch",
        "lenet5",
        "--layer",
        "features.3",
        "--npy",
        str(npy),
        "--out",
        str(png),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    engine = Engine.load("lenet5", device="cpu")
    seen = {}

    def hook(_module, _inputs, output) -> None:  # returns None: the output stays untouched
        seen["o"] = output.clone()  # a copy: the ReLU after this conv runs in place

    engine.model.features[3].register_forward_hook(hook)
    with torch.no_grad():
        engine.model(engine.spec.preprocess()(load_image(digit))[None])
    assert np.array_equal(np.load(npy), seen["o"][0].numpy())
    assert opened(png).size[0] > 10
    filters = tmp_path / "filters.png"
    done = cnnviz(
        "filters", "--arch", "lenet5", "--layer", "features.0", "--out", str(filters), cwd=tmp_path
    )
    assert done.returncode == 0 and opened(filters).mode in ("RGB", "RGBA")
    bad = cnnviz("features", str(digit), "--arch", "lenet5", "--layer", "features.33", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "features.3" in bad.stderr


def test_runs_from_the_source_tree_too(samples_dir):
    """`python -m cnnviz` inside a checkout imports the source tree, not the install."""
    root = samples_dir.parent.parent
    done = cnnviz("predict", "resources/samples/coffee.jpg", "--json", "--topk", "1", cwd=root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["weights"]["source"] == "bundled"


@pytest.fixture(scope="module")
def seeded_resnet18(tmp_path_factory):
    """A ResNet-18 state dict with seeded random weights: torchvision's own preprocessing
    (weights.transforms()) is then an independent reference."""
    import torch
    import torchvision

    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def _probabilities(*args: str, cwd) -> list[float]:
    result = cnnviz("predict", *args, "--json", "--topk", "1000", "--device", "cpu", cwd=cwd)
    assert result.returncode == 0, result.stderr
    ranked = json.loads(result.stdout)["predictions"]
    probabilities = [0.0] * len(ranked)
    for p in ranked:
        probabilities[p["index"]] = p["probability"]
    return probabilities


def test_one_preprocessing_path_for_plain_augmented_and_hand_flipped(
    tmp_path, samples_dir, seeded_resnet18
):
    """One number, one truth: a no-op spec gives the plain prediction exactly; the lab's flip
    gives exactly what a hand-flipped copy of the file gives; both equal torchvision's
    weights.transforms() and a plain forward within 1e-4."""
    import numpy as np
    import torch
    import torchvision
    from PIL import ImageOps

    cat = samples_dir / "cat.jpg"
    flipped_file = tmp_path / "cat_flipped.png"
    ImageOps.mirror(opened(cat).convert("RGB")).save(flipped_file)
    model = ("--arch", "resnet18", "--weights", str(seeded_resnet18))
    plain = _probabilities(str(cat), *model, cwd=tmp_path)
    no_op = _probabilities(
        str(cat), *model, "--augment", "RandomHorizontalFlip(p=0.0)", cwd=tmp_path
    )
    lab_flip = _probabilities(
        str(cat), *model, "--augment", "RandomHorizontalFlip(p=1.0)", cwd=tmp_path
    )
    hand_flip = _probabilities(str(flipped_file), *model, cwd=tmp_path)
    assert no_op == plain
    assert lab_flip == hand_flip

    reference = torchvision.models.resnet18()
    reference.load_state_dict(torch.load(seeded_resnet18, weights_only=True))
    transforms = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    for image, shown in ((opened(cat), plain), (opened(flipped_file), lab_flip)):
        with torch.no_grad():
            x = transforms(image.convert("RGB"))[None]
            expected = torch.softmax(reference.eval()(x), dim=1)[0].numpy()
        np.testing.assert_allclose(shown, expected, atol=1e-4, rtol=0)


def test_bench_json_reports_the_live_ratio_and_every_figure_with_its_spread():
    result = cnnviz("bench", "--sections", "live,montage", "--repeat", "3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"device", "ratio", "ratio_same_threads", "sections"}
    assert report["device"] == "CPU"
    assert set(report["sections"]) == {"live", "montage"}
    progress = [line for line in result.stderr.splitlines() if line.startswith("bench: ")]
    assert [line.split(" (")[0] for line in progress] == [
        "bench: live",
        "bench: montage",
        "bench: done",
    ]
    for figures in report["sections"].values():
        for figure in figures.values():
            assert figure["min_ms"] <= figure["median_ms"] <= figure["max_ms"]
            assert figure["ratio"] == pytest.approx(
                figure["median_ms"] / figure["bare_forward_ms"], abs=2e-3
            )
            assert isinstance(figure["noisy"], bool)
    live = report["sections"]["live"]
    update = live["efficientnet_lite0 live update (lab + layer explorer)"]
    assert report["ratio"] == update["ratio"] and update["ratio"] > 1  # more than a forward
    assert any("lab only" in name for name in live)
    # The worker's live jobs run torch on one thread; that forward is timed beside them.
    worker_bare = next(v for k, v in live.items() if "on the worker's 1 thread" in k)
    assert report["ratio_same_threads"] == pytest.approx(
        update["median_ms"] / worker_bare["median_ms"], abs=2e-3
    )


def test_version_and_gui_size(tmp_path):
    import cnnviz as package

    version = cnnviz("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"cnnviz {package.__version__}"
    bad = cnnviz("gui", "--size", "10x10")
    assert bad.returncode == 2 and "320 to 16384" in bad.stderr
    shot = tmp_path / "small.png"
    done = cnnviz("gui", "--size", "1024x768", "--screenshot", str(shot), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert opened(shot).size == (1024, 768)  # a projector size, reproducible by anyone

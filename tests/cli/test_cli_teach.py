"""`predict --json` lists what the random policies drew; the fine-tune command."""

from __future__ import annotations

import json

import torch
from test_cli import cnnviz
from torchvision.transforms import v2

from cnnviz.core.augment.pipeline import transform_seed


def _trivial_draw(seed: int, height: int, width: int) -> tuple[str, float]:
    # An independent re-run of TrivialAugmentWide's sampling under torchvision's seed.
    space = v2.TrivialAugmentWide._AUGMENTATION_SPACE
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        name = list(space)[int(torch.randint(len(space), ()))]
        fn, signed = space[name]
        mags = fn(31, height, width)
        if mags is None:
            return name, 0.0
        magnitude = float(mags[int(torch.randint(31, ()))])
        if signed and torch.rand(()) <= 0.5:
            magnitude = -magnitude
    return name, magnitude


def test_predict_json_lists_the_drawn_operations(samples_dir, capsys):
    from cnnviz.cli import main

    cat = str(samples_dir / "cat.jpg")
    spec = "RandomHorizontalFlip(p=1.0); TrivialAugmentWide()"
    assert (
        main(["predict", cat, "--augment", spec, "--seed", "4", "--json", "--device", "cpu"]) == 0
    )
    record = json.loads(capsys.readouterr().out)
    from PIL import Image

    with Image.open(cat) as im:
        width, height = im.size
    name, magnitude = _trivial_draw(transform_seed(4, "TrivialAugmentWide", 0), height, width)
    assert record["drawn"] == [
        {"transform": "TrivialAugmentWide", "operation": name, "magnitude": magnitude}
    ]


def test_predict_json_drawn_is_empty_for_deterministic_transforms(samples_dir, capsys):
    from cnnviz.cli import main

    cat = str(samples_dir / "cat.jpg")
    args = ["predict", cat, "--augment", "RandomHorizontalFlip(p=1.0)", "--json", "--device", "cpu"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["drawn"] == []


def _stripe_folders(root, per_class: int = 8):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    for name, vertical in (("horizontal", False), ("vertical", True)):
        (root / name).mkdir()
        for i in range(per_class):
            period = int(rng.integers(6, 16))
            ramp = ((np.arange(64) + int(rng.integers(0, period))) % period) < period / 2
            mask = np.tile(ramp, (64, 1)) if vertical else np.tile(ramp[:, None], (1, 64))
            img = np.where(mask[..., None], rng.integers(0, 256, 3), rng.integers(0, 256, 3))
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i}.png")


def test_finetune_json_and_predict_with_the_head(tmp_path, capsys):
    from cnnviz.cli import main

    data = tmp_path / "set"
    data.mkdir()
    _stripe_folders(data)
    head = str(tmp_path / "head.safetensors")
    # In-process (the subprocess below covers the real command line).
    args = ["finetune", str(data), "--epochs", "100", "--out", head, "--json", "--device", "cpu"]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["classes"] == ["horizontal", "vertical"] and record["out"] == head
    assert record["train_accuracy"] == 1.0 and record["heldout_accuracy"] >= 0.75
    image = str(data / "vertical" / "0.png")
    predicted = cnnviz("predict", image, "--weights", head, "--json", "--topk", "2")
    assert predicted.returncode == 0, predicted.stderr
    labels = [p["label"] for p in json.loads(predicted.stdout)["predictions"]]
    assert sorted(labels) == ["horizontal", "vertical"] and labels[0] == "vertical"
    assert main(["finetune", str(data), "--out", str(tmp_path / "head.pth")]) == 2
    assert capsys.readouterr().err.startswith("cnnviz: error: --out")

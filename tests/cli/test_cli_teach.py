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


def test_predict_json_lists_the_drawn_operations(samples_dir):
    cat = str(samples_dir / "cat.jpg")
    spec = "RandomHorizontalFlip(p=1.0); TrivialAugmentWide()"
    result = cnnviz("predict", cat, "--augment", spec, "--seed", "4", "--json", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    from PIL import Image

    with Image.open(cat) as im:
        width, height = im.size
    name, magnitude = _trivial_draw(transform_seed(4, "TrivialAugmentWide", 0), height, width)
    assert record["drawn"] == [
        {"transform": "TrivialAugmentWide", "operation": name, "magnitude": magnitude}
    ]
    plain = cnnviz("predict", cat, "--augment", "RandomHorizontalFlip(p=1.0)", "--json")
    assert json.loads(plain.stdout)["drawn"] == []

"""The bench's eval section: the labelled photo set it builds, and its paired timings."""

from __future__ import annotations

import json
import shutil

from cnnviz.cli.bench_eval import eval_samples_ms, sample_photo_set
from cnnviz.core.engine import Engine
from cnnviz.core.evaluate import scan


def test_photo_set_and_paired_timings(tmp_path, samples_dir) -> None:
    listing = json.loads((samples_dir / "samples.json").read_text())
    labelled = [e["true_label"] for e in listing if e["kind"] == "photo" and e["true_label"]]
    photos = sample_photo_set(tmp_path / "photos", copies=2)
    folders = sorted(p.name for p in photos.iterdir())
    assert folders == sorted(label.replace(" ", "_") for label in labelled)
    assert all(len(list((photos / f).iterdir())) == 2 for f in folders)

    lenet = Engine.load("lenet5", device="cpu")
    digits = tmp_path / "digits"
    for k in range(3):
        (digits / str(k)).mkdir(parents=True)
        shutil.copy(samples_dir / "digits" / f"digit_{k}.png", digits / str(k) / "d.png")
    runs, bare = eval_samples_ms(lenet, scan(digits, lenet.spec.categories), 3, 2, 0)
    assert len(runs) == len(bare) == 3 and min(runs) > 0 and min(bare) > 0

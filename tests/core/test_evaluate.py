"""Folder evaluation against a count done by hand with the plain predict path."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from cnnviz.core.augment.lab import run_lab
from cnnviz.core.augment.spec import parse_spec
from cnnviz.core.engine import Engine
from cnnviz.core.evaluate import EvalSourceError, evaluate, image_seed, scan
from cnnviz.core.images import load_image

# (class folder, sample photo, its true class). dahlia.jpg is misfiled under espresso.
FILED = [
    ("tabby", "cat.jpg", "tabby"),
    ("espresso", "coffee.jpg", "espresso"),
    ("espresso", "dahlia.jpg", "espresso"),
    ("military_uniform", "grace_hopper.jpg", "military uniform"),
    ("n03773504", "rocket.jpg", "missile"),  # the WordNet id of "missile"
    ("palace", "palace.jpg", "palace"),
]


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory, samples_dir) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    for folder, photo, _ in FILED:
        (root / folder).mkdir(exist_ok=True)
        shutil.copy(samples_dir / photo, root / folder / photo)
    (root / "palace" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    (root / "astronaut").mkdir()  # no ImageNet class
    shutil.copy(samples_dir / "astronaut.jpg", root / "astronaut" / "astronaut.jpg")
    (root / "goldfish").mkdir()  # a class, but empty
    (root / "stray.jpg").write_bytes((samples_dir / "cat.jpg").read_bytes())
    (root / ".hidden").mkdir()
    return root


def hand_count(engine: Engine, root: Path) -> dict:
    """Top-1/top-5 misses per class from one plain predict per image."""
    images, top1, top5, wrong = Counter(), Counter(), Counter(), set()
    for folder, photo, truth in FILED:
        labels = [c.label for c in engine.predict(load_image(root / folder / photo)).top]
        images[truth] += 1
        if labels[0] != truth:
            top1[truth] += 1
            wrong.add(str(root / folder / photo))
        top5[truth] += truth not in labels
    return {"images": images, "top1": top1, "top5": top5, "wrong": wrong}


@pytest.fixture(scope="module")
def expected(lite_engine, photo_set) -> dict:
    return hand_count(lite_engine, photo_set)


def check_against_hand_count(result, expected) -> None:
    n = sum(expected["images"].values())
    assert result.images == n
    assert result.top1_error == pytest.approx(sum(expected["top1"].values()) / n)
    assert result.top5_error == pytest.approx(sum(expected["top5"].values()) / n)
    per_class = result.as_dict()["per_class"]
    assert set(per_class) == set(expected["images"])
    for label, stats in per_class.items():
        images = expected["images"][label]
        assert stats["images"] == images
        assert stats["top1_error"] == pytest.approx(expected["top1"][label] / images)
        assert stats["top5_error"] == pytest.approx(expected["top5"][label] / images)
    assert {m.path for m in result.misclassified} == expected["wrong"]


@pytest.fixture(scope="module")
def photo_run(lite_engine, photo_set):
    progress: list[tuple[int, int]] = []
    result = evaluate(
        lite_engine, photo_set, batch_size=3, workers=0, progress=lambda *a: progress.append(a)
    )
    return result, progress


def test_figures_equal_a_hand_count_and_bad_entries_are_skipped(photo_run, expected) -> None:
    result, progress = photo_run
    check_against_hand_count(result, expected)
    # The misfiled dahlia cannot be an espresso: a top-1 and top-5 miss.
    assert expected["top1"]["espresso"] == expected["top5"]["espresso"] == 1
    assert 0 < result.top5_error < result.top1_error < 1
    skipped = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(skipped) == {"astronaut", "goldfish", "stray.jpg", "broken.jpg"}
    assert "no class named 'astronaut'" in skipped["astronaut"]
    assert "empty" in skipped["goldfish"] and "class folder" in skipped["stray.jpg"]
    assert "not an image" in skipped["broken.jpg"]
    assert progress[-1] == (7, 7) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert not result.cancelled and result.total == 7


def test_misclassified_and_confused_pairs_agree_with_predict(lite_engine, photo_run) -> None:
    result, _ = photo_run
    for m in result.misclassified:
        prediction = lite_engine.predict(load_image(m.path))
        assert m.predicted == prediction.top[0].label
        assert m.true_probability == pytest.approx(
            float(prediction.probabilities[lite_engine.spec.categories.index(m.true_label)]),
            abs=1e-4,
        )
        assert m.true_rank > 1
    pairs = Counter((m.true_label, m.predicted) for m in result.misclassified)
    assert {(p.true_label, p.predicted): p.count for p in result.most_confused} == pairs


def test_cancel_between_batches_returns_what_it_has(lite_engine, photo_set) -> None:
    checks = iter([False, True])
    result = evaluate(
        lite_engine, photo_set, batch_size=2, workers=0, cancelled=lambda: next(checks)
    )
    assert result.cancelled and result.images == 2 and result.total == 7


@pytest.fixture(scope="module")
def lenet() -> Engine:
    return Engine.load("lenet5", device="cpu")


@pytest.fixture(scope="module")
def digit_set(tmp_path_factory, samples_dir) -> Path:
    root = tmp_path_factory.mktemp("digits")
    for k in range(10):
        (root / str(k)).mkdir()
        shutil.copy(samples_dir / "digits" / f"digit_{k}.png", root / str(k) / "d.png")
    (root / "n01440764").mkdir()  # a WordNet id means nothing to LeNet's digits
    shutil.copy(samples_dir / "digits" / "digit_0.png", root / "n01440764" / "d.png")
    return root


def test_worker_processes_give_the_same_figures(lenet, digit_set) -> None:
    spec = "RandomRotation(degrees=[-60, 60])"
    here = evaluate(lenet, digit_set, augment=spec, batch_size=3, workers=0)
    forked = evaluate(lenet, digit_set, augment=spec, batch_size=3, workers=2)
    assert forked.as_dict() == here.as_dict() and here.images == 10


def test_augmented_evaluation_equals_predict_augment_with_each_images_seed(
    lenet, digit_set
) -> None:
    spec = "RandomRotation(degrees=[-60, 60]); RandomHorizontalFlip(p=0.5)"
    result = evaluate(lenet, digit_set, augment=spec, seed=3, batch_size=4, workers=0)
    misses = set()
    for k in range(10):
        image = load_image(digit_set / str(k) / "d.png")
        lab = run_lab(lenet, image, parse_spec(spec), seed=image_seed(3, f"{k}/d.png"))
        if lab.prediction.top[0].label != str(k):
            misses.add((str(k), lab.prediction.top[0].label, image_seed(3, f"{k}/d.png")))
    assert {(m.true_label, m.predicted, m.seed) for m in result.misclassified} == misses
    assert result.top1_error == pytest.approx(len(misses) / 10)
    assert result.spec_text and misses  # rotations of up to 60 degrees fool LeNet somewhere
    (wnid,) = result.skipped
    assert wnid.path.endswith("n01440764") and "WordNet" in wnid.reason


def test_csv_of_path_and_label(lenet, digit_set, tmp_path) -> None:
    rows = ["path,label", f"{digit_set}/3/d.png,3", "../x/missing.png,4", f"{digit_set}/5/d.png,8"]
    rows += [f"{digit_set}/6/d.png,six", "lonely-cell"]
    csv_file = tmp_path / "set.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    result = evaluate(lenet, csv_file, workers=0)
    assert result.images == 2 and result.as_dict()["per_class"].keys() == {"3", "8"}
    miss3 = lenet.predict(load_image(digit_set / "3" / "d.png")).top[0].label != "3"
    miss5 = lenet.predict(load_image(digit_set / "5" / "d.png")).top[0].label != "8"
    assert miss5  # a 5 filed as an 8
    assert result.top1_error == pytest.approx((miss3 + miss5) / 2)
    reasons = [s.reason for s in result.skipped]
    assert len(reasons) == 3
    assert any("file not found" in r for r in reasons) and any("'six'" in r for r in reasons)
    assert any("path,label" in r for r in reasons)


def test_sources_that_are_not_a_set_are_user_errors(lenet, tmp_path) -> None:
    with pytest.raises(EvalSourceError):
        scan(tmp_path / "nowhere", lenet.spec.categories)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(EvalSourceError):
        scan(tmp_path / "a.txt", lenet.spec.categories)
    (tmp_path / "empty").mkdir()
    nothing = evaluate(lenet, tmp_path / "empty", workers=0)
    assert nothing.images == 0 and nothing.top1_error is None and nothing.skipped == ()

"""The augmentation lab's core against torchvision transforms and forwards done by hand."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from job_context import RecordingContext, stop_after
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from cnnviz.core.augment.lab import LabOutcome, LabRow, run_lab
from cnnviz.core.augment.requests import StabilityRequest, SweepRequest
from cnnviz.core.augment.spec import AugmentSettings, SpecError, parse_spec
from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image
from cnnviz.core.requests import QUIET, ModelKey
from cnnviz.core.session import Session

DETERMINISTIC = (
    "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[30, 30]); "
    "ColorJitter(brightness=[1.3, 1.3])"
)
RANDOM = "RandomRotation(degrees=[-45, 45]); ColorJitter(brightness=0.5, hue=0.1); RandomErasing()"


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.fixture(scope="module")
def engine(session):
    return session.engine_for(ModelKey("efficientnet_lite0", device="cpu"))


@pytest.fixture(scope="module")
def cat_path(samples_dir):
    return str(samples_dir / "cat.jpg")


@pytest.fixture(scope="module")
def cat(session, cat_path):
    return session.image_for(cat_path)


def _reference_probabilities(engine: Engine, image: torch.Tensor) -> np.ndarray:
    """EfficientNet-Lite0's preprocessing written out with torchvision on the PIL image
    with these pixels (as for a file), then model(x)."""
    x = TF.resize(TF.to_pil_image(image), [256], interpolation=InterpolationMode.BICUBIC)
    x = TF.center_crop(x, [224, 224])
    x = TF.normalize(TF.to_tensor(x), [0.5] * 3, [0.5] * 3)
    with torch.no_grad():
        return torch.softmax(engine.model(x.unsqueeze(0)), dim=1)[0].double().numpy()


def _lab(engine: Engine, image, text: str, **kwargs) -> LabOutcome:
    return run_lab(engine, image, parse_spec(text), **kwargs)


def _pixels(outcome: LabOutcome) -> torch.Tensor:
    """The augmented image as a (3, H, W) uint8 tensor (these photos are under 1024 px)."""
    return torch.from_numpy(outcome.augmented_image).permute(2, 0, 1)


def test_deterministic_spec_equals_transforms_applied_by_hand(engine, cat):
    original = TF.pil_to_tensor(cat)
    by_hand = TF.adjust_brightness(TF.rotate(TF.hflip(original), 30.0), 1.3)
    outcome = _lab(engine, cat, DETERMINISTIC, seed=123)

    assert np.array_equal(outcome.augmented_image, by_hand.permute(1, 2, 0).numpy())
    assert outcome.augmented_size == tuple(by_hand.shape[-2:])
    q = _reference_probabilities(engine, by_hand)
    p = _reference_probabilities(engine, original)
    assert np.allclose(outcome.prediction.probabilities, q, atol=1e-5)
    assert np.allclose(outcome.baseline.probabilities, p, atol=1e-5)

    # KL(p ‖ q) by torch's own kl_div; changes and ranks by numpy.
    expected_kl = torch.nn.functional.kl_div(
        torch.from_numpy(q).log(), torch.from_numpy(p), reduction="sum"
    ).item()
    assert outcome.kl_divergence == pytest.approx(expected_kl, rel=1e-4, abs=1e-7)
    top = np.argsort(-q)[:5]
    assert [r.index for r in outcome.rows] == top.tolist()
    for row, i in zip(outcome.rows, top, strict=True):
        assert row.probability == pytest.approx(q[i], abs=1e-5)
        assert row.baseline_probability == pytest.approx(p[i], abs=1e-5)
        assert row.baseline_rank == 1 + int(np.sum(p > p[i]))
        assert row.delta_pp == pytest.approx((q[i] - p[i]) * 100, abs=1e-3)
    assert outcome.top1_flipped == (np.argmax(p) != np.argmax(q))
    names = engine.spec.categories
    if outcome.top1_flipped:
        assert f"Top-1 flipped: {names[np.argmax(p)]} → {names[np.argmax(q)]}" in (
            outcome.summary_text()
        )
    assert f"KL {expected_kl:.2f} nats" in outcome.summary_text()
    assert outcome.spec_text == (
        "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[30.0, 30.0]); "
        "ColorJitter(brightness=[1.3, 1.3])"
    )
    assert "v2.RandomRotation(degrees=[30.0, 30.0])" in outcome.python_code


def test_empty_spec_is_the_identity(engine, cat):
    outcome = _lab(engine, cat, "  ", seed=0)
    assert torch.equal(_pixels(outcome), TF.pil_to_tensor(cat))
    assert np.array_equal(outcome.prediction.probabilities, engine.predict(cat).probabilities)
    assert not outcome.top1_flipped and outcome.kl_divergence == 0.0
    assert [r.change_text() for r in outcome.rows] == ["+0.0 pp, ="] * 5
    assert outcome.mix_weights is None and "empty" in outcome.summary_text()


def test_a_seeded_random_spec_is_reproducible(engine, cat):
    first = _lab(engine, cat, RANDOM, seed=7)
    again = _lab(engine, cat, RANDOM, seed=7)
    other = _lab(engine, cat, RANDOM, seed=8)
    assert torch.equal(_pixels(first), _pixels(again))
    assert np.array_equal(first.prediction.probabilities, again.prediction.probabilities)
    assert not torch.equal(_pixels(first), _pixels(other))
    assert first.seed == 7 and first.spec_text == again.spec_text


def test_change_text():
    up = LabRow(1, 5, "a", 0.623, 0.5, 3)
    down = LabRow(4, 6, "b", 0.10, 0.14, 1)
    assert up.change_text() == "+12.3 pp, ↑2"
    assert down.change_text() == "−4.0 pp, ↓3"
    assert LabRow(2, 7, "c", 0.3, 0.3, 2).change_text() == "+0.0 pp, ="


def test_the_baseline_is_computed_once_per_image_and_model(session, engine, samples_dir):
    calls = []
    handle = engine.model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        coffee = str(samples_dir / "coffee.jpg")
        for angle in (10, 20, 30):
            spec = parse_spec(f"RandomRotation(degrees=[{angle}, {angle}])")
            session.predict(engine, coffee, AugmentSettings(spec))
            session.baseline(engine, coffee)
        assert len(calls) == 1 + 3  # one baseline, one forward per augmented update
    finally:
        handle.remove()


def test_mixing_reports_label_weights_and_needs_a_second_image(engine, cat, samples_dir):
    second = load_image(samples_dir / "coffee.jpg")
    outcome = _lab(engine, cat, "MixUp(alpha=1.0)", seed=3, mix_with=second)
    a, b = outcome.mix_weights
    assert a + b == pytest.approx(1.0) and 0 < a < 1
    lam = torch.tensor(a, dtype=torch.float64)
    other = TF.resize(TF.pil_to_tensor(second), list(outcome.augmented_size))
    blend = (lam * TF.pil_to_tensor(cat).double() + (1 - lam) * other.double()).round()
    assert (_pixels(outcome).double() - blend).abs().max() <= 1
    assert f"mix {a:.0%} A / {b:.0%} B" in outcome.summary_text()
    with pytest.raises(SpecError, match="MixUp needs a second image"):
        _lab(engine, cat, "MixUp()", seed=3)
    with pytest.raises(SpecError, match="Bogus"):
        _lab(engine, cat, "RandomInvert(); Bogus(p=1)", seed=3)


def test_sweep_values_equal_individual_lab_runs(session, engine, cat, cat_path):
    spec = "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[-30, 30])"
    values = (-40.0, 0.0, 25.0, 90.0)
    context = RecordingContext()
    request = SweepRequest(
        ModelKey("efficientnet_lite0", device="cpu"),
        cat_path,
        AugmentSettings(parse_spec(spec), seed=4),
        transform_index=1,
        param="degrees",
        values=values,
        batch_size=3,
    )
    out = request.execute(session, context)
    assert context.seen == [(3, 4), (4, 4)] and not out.cancelled
    assert context.yields == 2  # live requests may run between the two batches
    assert out.transform == "RandomRotation" and "exactly" in out.description
    singles = [
        _lab(
            engine, cat, f"RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[{v}, {v}])", seed=4
        )
        for v in values
    ]
    full = np.stack([s.prediction.probabilities for s in singles])
    peaks = np.argsort(-full.max(axis=0), kind="stable")[:5]
    assert list(out.indices) == peaks.tolist()
    assert list(out.labels) == [engine.spec.categories[i] for i in peaks]
    assert np.array_equal(out.values, values)
    assert np.allclose(out.probabilities, full[:, peaks], atol=1e-5)
    assert list(out.top1) == [s.prediction.top[0].label for s in singles]


def test_a_cancelled_sweep_keeps_the_rows_done(session, cat_path):
    request = SweepRequest(
        ModelKey("efficientnet_lite0", device="cpu"),
        cat_path,
        AugmentSettings(parse_spec("ColorJitter(brightness=0.5)"), seed=0),
        0,
        "brightness",
        values=(0.5, 0.8, 1.1, 1.4, 1.7),
        batch_size=2,
    )
    out = request.execute(session, RecordingContext(stop_after(1)))
    assert out.cancelled and np.array_equal(out.values, [0.5, 0.8])
    assert out.probabilities.shape == (2, 5)


def test_stability_counts_top1_over_seeded_draws(session, engine, cat, cat_path):
    request = StabilityRequest(
        ModelKey("efficientnet_lite0", device="cpu"),
        cat_path,
        AugmentSettings(parse_spec(RANDOM), seed=11),
        samples=6,
        batch_size=4,
    )
    out = request.execute(session, QUIET)
    assert out.samples == 6 and sum(n for _, n in out.counts) == 6 and not out.cancelled
    by_hand = Counter(
        _lab(engine, cat, RANDOM, seed=s).prediction.top[0].label for s in range(11, 17)
    )
    assert dict(out.counts) == dict(by_hand)
    assert [n for _, n in out.counts] == sorted(by_hand.values(), reverse=True)
    assert out.baseline_label == engine.predict(cat).top[0].label

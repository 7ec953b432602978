"""Parameter sweeps: spec copies, their meaning, and batched classification."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from job_context import RecordingContext
from torchvision.models import resnet18
from torchvision.transforms.v2 import functional as F

from cnnviz.core.augment.pipeline import build_pipeline
from cnnviz.core.augment.requests import SweepResult, run_sweep
from cnnviz.core.augment.spec import SpecError, format_spec, parse_spec
from cnnviz.core.augment.sweep import describe_sweep, linspace_values, sweep_specs


def _image(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (3, 48, 64), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="module")
def classify():
    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=7).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def run(images: list[torch.Tensor]) -> torch.Tensor:
        batch = torch.stack(
            [(F.resize(i, [32, 32], antialias=True).float() / 255 - mean) / std for i in images]
        )
        with torch.no_grad():
            return model(batch).softmax(dim=1)

    return run


def test_linspace_values():
    assert np.array_equal(linspace_values(-30, 30, 5), [-30.0, -15.0, 0.0, 15.0, 30.0])
    assert np.array_equal(linspace_values(2, 9, 1), [2.0])
    with pytest.raises(ValueError):
        linspace_values(0, 1, 0)


def test_rotation_sweep_rotates_by_exactly_each_value():
    spec = parse_spec("RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[-30, 30])")
    values = [-20.0, 0.0, 45.0]
    specs = sweep_specs(spec, 1, "degrees", values)
    assert [format_spec(s) for s in specs] == [
        f"RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[{v}, {v}])" for v in values
    ]
    img = _image()
    for v, s in zip(values, specs, strict=True):
        out = build_pipeline(s).apply(img, seed=3).image
        assert torch.equal(out, F.rotate(img.flip(-1), v))
    assert spec.calls[1].get("degrees") == (-30.0, 30.0)  # the original is untouched


def test_colour_jitter_sweep_is_an_exact_factor():
    img = _image()
    values = [0.5, 1.5]
    for s, v in zip(
        sweep_specs(parse_spec("ColorJitter(brightness=0.4)"), 0, "brightness", values),
        values,
        strict=True,
    ):
        assert torch.equal(build_pipeline(s).apply(img, seed=1).image, F.adjust_brightness(img, v))
    both = sweep_specs(
        parse_spec("ColorJitter(brightness=0.4, contrast=0.2)"), 0, "brightness", [2]
    )
    assert both[0].calls[0].kwargs == (("brightness", (2.0, 2.0)), ("contrast", 0.2))


def test_erasing_sweep_forces_p_and_erases_the_asked_fraction():
    spec = parse_spec("RandomErasing(p=0.2)")
    img = _image()  # no zero pixels, so erased ones are countable
    fractions = [0.1, 0.3, 0.6]
    for s, v in zip(sweep_specs(spec, 0, "scale", fractions), fractions, strict=True):
        assert s.calls[0].get("p") == 1.0 and s.calls[0].get("scale") == (v, v)
        out = build_pipeline(s).apply(img, seed=2).image
        assert abs((out == 0).all(0).double().mean().item() - v) < 0.05
    assert "p=1.0" in describe_sweep("RandomErasing", "scale")
    assert describe_sweep("RandomRotation", "degrees").startswith("degrees=[v, v]: rotate")


def test_int_parameters_round_and_bad_sweeps_raise():
    spec = parse_spec("RandomPosterize(bits=4); RandomRotation(degrees=3)")
    assert [s.calls[0].get("bits") for s in sweep_specs(spec, 0, "bits", [1.2, 2.7])] == [1, 3]
    with pytest.raises(SpecError, match="no transform at index 2"):
        sweep_specs(spec, 2, "bits", [1])
    with pytest.raises(SpecError, match="RandomRotation: 'fill' cannot be swept"):
        sweep_specs(spec, 1, "fill", [1])
    with pytest.raises(SpecError, match="RandomPosterize: bits value 12 is outside"):
        sweep_specs(spec, 0, "bits", [3, 12])


def test_run_sweep_rows_equal_individual_classification(classify):
    img = _image()
    spec = parse_spec("RandomRotation(degrees=[-10, 10]); ColorJitter(brightness=0.3)")
    values = linspace_values(-90, 90, 10)
    specs = sweep_specs(spec, 0, "degrees", values)
    context = RecordingContext()
    result = run_sweep(
        img,
        [build_pipeline(s) for s in specs],
        seed=5,
        classify=classify,
        batch_size=4,
        context=context,
        values=values,
    )
    assert isinstance(result, SweepResult) and not result.cancelled
    assert context.seen == [(4, 10), (8, 10), (10, 10)]
    assert np.array_equal(result.values, values)
    assert result.probabilities.shape == (10, 7)
    for row, s in zip(result.probabilities, specs, strict=True):
        alone = classify([build_pipeline(s).apply(img, seed=5).image])[0].numpy()
        np.testing.assert_allclose(row, alone, rtol=0, atol=1e-5)
    assert np.ptp(result.probabilities, axis=0).max() > 1e-4  # the angle changes predictions


def test_run_sweep_cancel_stops_between_batches(classify):
    specs = sweep_specs(parse_spec("RandomRotation(degrees=0)"), 0, "degrees", range(10))
    pipelines = [build_pipeline(s) for s in specs]
    batches = []

    def counting(images):
        batches.append(len(images))
        return classify(images)

    result = run_sweep(
        _image(),
        pipelines,
        seed=0,
        classify=counting,
        batch_size=3,
        context=RecordingContext(lambda: bool(batches)),
    )
    assert result.cancelled and batches == [3]
    assert result.probabilities.shape == (3, 7)
    assert np.array_equal(result.values, [0.0, 1.0, 2.0])
    stopped = run_sweep(
        _image(), pipelines, seed=0, classify=counting, context=RecordingContext(lambda: True)
    )
    assert stopped.cancelled and stopped.probabilities.shape[0] == 0 and batches == [3]

"""Explain requests over a Session: the lab's input is explained, results are plain data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from job_context import RecordingContext, stop_after
from torchvision.transforms.v2 import functional as F

from cnnviz.core.augment.spec import AugmentSettings, parse_spec
from cnnviz.core.explain import ExplainOptions, explain
from cnnviz.core.explain.requests import (
    ExplainInput,
    ExplainRequest,
    OccluderRequest,
    OcclusionRequest,
    SanityRequest,
    explain_request,
)
from cnnviz.core.images import load_image
from cnnviz.core.requests import QUIET, ModelKey
from cnnviz.core.session import Session

LITE = ModelKey("efficientnet_lite0", device="cpu")
FLIP = AugmentSettings(parse_spec("RandomHorizontalFlip(p=1.0)"))


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


@pytest.fixture(scope="module")
def cat_path(samples_dir) -> str:
    return str(samples_dir / "cat.jpg")


@pytest.fixture(scope="module")
def cat(cat_path) -> torch.Tensor:
    return F.pil_to_tensor(load_image(cat_path))


def _walk(value: object, path: str) -> None:
    assert not isinstance(value, torch.Tensor), path
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_the_flipped_lab_input_is_explained(session, cat_path, cat, lite_engine):
    plain = ExplainRequest(ExplainInput(LITE, cat_path), ("gradcam",), target=281)
    flipped = dataclasses.replace(plain, source=ExplainInput(LITE, cat_path, FLIP))
    a, b = plain.execute(session, QUIET), flipped.execute(session, QUIET)
    by_hand = explain(lite_engine, F.horizontal_flip(cat), "gradcam", target_class=281)
    np.testing.assert_allclose(b.cells[0].heat, by_hand.upsampled, atol=1e-5)
    np.testing.assert_array_equal(b.model_input, by_hand.model_input)
    # A CNN is not flip-equivariant, but the map follows the cat across.
    mirrored = np.fliplr(a.cells[0].heat)
    assert _corr(b.cells[0].heat, mirrored) > 0.8 > _corr(b.cells[0].heat, a.cells[0].heat)
    assert b.class_index == 281 and b.categories[281] == lite_engine.spec.categories[281]
    assert b.photo.shape[2] == 3 and b.cells[0].photo_heat.shape == b.photo.shape[:2]
    _walk(b, "view")


def test_grid_and_contrast_match_the_core(session, cat_path, lite_engine):
    options = ExplainOptions(steps=4, samples=2, batch_size=4)
    source = ExplainInput(LITE, cat_path)
    grid = ExplainRequest(source, ("gradcam", "saliency", "ig"), options=options)
    view = grid.execute(session, QUIET)
    top1 = view.top[0].index
    assert [e.method for e in view.explanations] == ["gradcam", "saliency", "ig"]
    assert {e.class_index for e in view.explanations} == {top1}
    cat = load_image(cat_path)
    for cell, method in zip(view.cells, grid.methods, strict=True):
        expected = explain(lite_engine, cat, method, target_class=top1, options=options)
        np.testing.assert_allclose(cell.heat, expected.upsampled, atol=1e-4)
    two = ExplainRequest(source, ("gradcam",), target="tiger cat", versus="Egyptian cat")
    shown = two.execute(session, QUIET)
    a = explain(lite_engine, cat, "gradcam", target_class="tiger cat").map
    b = explain(lite_engine, cat, "gradcam", target_class="Egyptian cat").map
    np.testing.assert_allclose(shown.contrast.difference, a - b, atol=1e-5)
    assert len(shown.cells) == 3 and shown.cells[2].diverging
    assert np.nanmax(np.abs(shown.cells[2].heat)) == pytest.approx(1.0)
    _walk(shown, "contrast")


def test_occluder_equals_a_patch_applied_by_hand(session, cat_path, cat, lite_engine):
    request = OccluderRequest(ExplainInput(LITE, cat_path, FLIP), top=60, left=90, size=48)
    probe = request.execute(session, QUIET)
    x = lite_engine.to_tensor(F.horizontal_flip(cat)).unsqueeze(0)
    x[..., 60:108, 90:138] = 0.0  # the dataset mean, in normalised space
    with torch.inference_mode():
        expected = torch.softmax(lite_engine.model(x)[0], dim=0)
    values, indices = expected.topk(5)
    assert [c.index for c in probe.top] == indices.tolist()
    np.testing.assert_allclose([c.probability for c in probe.top], values.numpy(), atol=1e-5)
    _walk(probe, "probe")


def test_occlusion_is_a_long_job_that_yields_and_cancels(session, cat_path):
    options = ExplainOptions(patch=112, stride=56, batch_size=3)  # 3x3 positions, 3 batches
    source = ExplainInput(LITE, cat_path)
    request = explain_request(source, ("occlusion",), target=281, options=options)
    assert isinstance(request, OcclusionRequest) and request.long and request.lane != "explain"
    context = RecordingContext()
    full = request.execute(session, context)
    assert not full.cancelled and context.yields >= 3
    assert context.seen[-1] == (9, 9)
    stopped = request.execute(session, RecordingContext(stop_after(1)))
    grid = stopped.explanations[0].occlusion
    assert stopped.cancelled and np.isnan(grid.probabilities).sum() == 6
    done = ~np.isnan(grid.probabilities)
    np.testing.assert_allclose(
        grid.probabilities[done], full.explanations[0].occlusion.probabilities[done], atol=1e-6
    )


def test_sanity_request_counts_blocks_and_yields(session, cat_path):
    request = SanityRequest(ExplainInput(LITE, cat_path), "gradcam", target=281, max_steps=2)
    context = RecordingContext()
    check = request.execute(session, context)
    assert [s.block for s in check.steps][0] == "(trained)" and len(check.steps) == 3
    assert check.steps[0].rho == 1.0 and all(s.rho < 1.0 for s in check.steps[1:])
    assert context.seen[-1] == (3, 3) and context.yields >= 2
    assert request.long and SanityRequest.lane != ExplainRequest.lane
    _walk(check, "sanity")

"""The Compare and Evaluate workspaces' requests on a real Session: what each model is fed,
that the window's engine is borrowed and kept, cancel between models or batches, and the
evaluation through the lab's pipeline against a count by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from job_context import RecordingContext, stop_after
from torchvision.transforms.v2 import functional as F

from cnnviz.core.augment.spec import AugmentSettings, parse_spec
from cnnviz.core.compare.requests import CompareRequest, ZooFactsRequest
from cnnviz.core.compare.run import CompareError
from cnnviz.core.engine import Engine
from cnnviz.core.errors import UserError
from cnnviz.core.evaluate_requests import EvaluateRequest
from cnnviz.core.images import load_image
from cnnviz.core.requests import QUIET, ModelKey
from cnnviz.core.session import Session
from cnnviz.core.truth_requests import ClassNamesRequest

LITE = ModelKey("efficientnet_lite0", device="cpu")
LENET = ModelKey("lenet5", device="cpu")
FLIP = AugmentSettings(parse_spec("RandomHorizontalFlip(p=1.0)"), seed=4)


@pytest.fixture(scope="module")
def session() -> Session:
    s = Session()
    s.engine_for(LITE)
    return s


@pytest.fixture(scope="module")
def lenet() -> Engine:
    return Engine.load("lenet5", device="cpu")


def test_models_see_the_augmented_image_and_the_window_engine_stays(
    session, lite_engine, lenet, samples_dir
):
    engine = session.engine
    cat = load_image(samples_dir / "cat.jpg")
    flipped = F.horizontal_flip(F.pil_to_tensor(cat))
    context = RecordingContext()
    request = CompareRequest((LITE, LENET), str(samples_dir / "cat.jpg"), FLIP, "tabby")
    comparison = request.execute(session, context)
    assert session.engine is engine  # borrowed, never evicted or reloaded
    lite, digits = comparison.runs
    for run, reference in ((lite, lite_engine), (digits, lenet)):
        expected = reference.predict(flipped).top
        assert [c.label for c in run.top] == [c.label for c in expected]
        assert np.allclose([c.probability for c in run.top], [c.probability for c in expected])
    assert np.array_equal(comparison.augmented_image, flipped.permute(1, 2, 0).numpy())
    assert comparison.spec_text == "RandomHorizontalFlip(p=1.0)" and comparison.seed == 4
    p = lite_engine.predict(flipped).probabilities
    tabby = lite_engine.spec.categories.index("tabby")
    assert lite.truth.rank == 1 + int(np.sum(p > p[tabby]))
    assert digits.truth is None  # LeNet has no tabby class
    assert context.seen == [(0, 2), (1, 2), (2, 2)] and context.yields == 2


def test_cancel_between_models_and_bad_requests(session, samples_dir):
    image = str(samples_dir / "coffee.jpg")
    context = RecordingContext(stop_after(1))
    comparison = CompareRequest((LENET, LITE, LENET), image).execute(session, context)
    assert comparison.cancelled and [r.name for r in comparison.runs] == ["lenet5"]
    with pytest.raises(CompareError) as too_few:
        CompareRequest((LITE,), image).execute(session, QUIET)
    assert isinstance(too_few.value, UserError)
    with pytest.raises(UserError):  # no compared model has such a class
        CompareRequest((LITE, LENET), image, true_label="unicorn").execute(session, QUIET)


def test_zoo_facts_and_class_names(session):
    zoo = ZooFactsRequest().execute(session, QUIET)
    names = {f.name for f in zoo.facts}
    assert {"resnet18", "lenet5", "efficientnet_lite0"} <= names
    chart = zoo.chart("depth")
    assert chart.axis == "depth" and "lenet5" in chart.left_out
    assert ClassNamesRequest("lenet5").execute(session, QUIET) == tuple(str(k) for k in range(10))


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory, samples_dir) -> tuple[Path, list[tuple[Path, str]]]:
    root = tmp_path_factory.mktemp("flipset")
    filed = []
    for folder, photo in (
        ("tabby", "cat.jpg"),
        ("espresso", "coffee.jpg"),
        ("palace", "rocket.jpg"),
    ):
        (root / folder).mkdir()
        shutil.copy(samples_dir / photo, root / folder / photo)
        filed.append((root / folder / photo, folder))
    return root, filed


def test_evaluation_goes_through_the_lab_pipeline(session, lite_engine, photo_set):
    root, filed = photo_set
    context = RecordingContext()
    request = EvaluateRequest(LITE, str(root), FLIP, batch_size=2, workers=0)
    result = request.execute(session, context)
    top1 = top5 = 0
    for path, truth in filed:  # by hand: flip, then a plain predict
        labels = [c.label for c in lite_engine.predict(F.horizontal_flip(load_image(path))).top]
        top1 += labels[0] != truth
        top5 += truth not in labels
    assert result.images == 3 and result.top1_misses == top1 and result.top5_misses == top5
    assert top5 >= 1  # the rocket filed as a palace
    assert result.spec_text == "RandomHorizontalFlip(p=1.0)" and result.seed == 4
    assert context.seen[-1] == (3, 3) and context.yields >= 2  # live requests between batches
    stopped = EvaluateRequest(LITE, str(root), None, batch_size=1, workers=0).execute(
        session, RecordingContext(stop_after(1))
    )
    assert stopped.cancelled and stopped.images == 1

"""The Teach requests run through a Session like the window's worker runs them."""

from __future__ import annotations

import numpy as np
import pytest
from job_context import RecordingContext, stop_after

from cnnviz.core.augment.spec import AugmentSettings, parse_spec
from cnnviz.core.requests import QUIET, ModelKey
from cnnviz.core.session import Session
from cnnviz.core.teach.requests import (
    BatchNormRequest,
    PolicyDrawRequest,
    PreprocessRequest,
    TeachLayersRequest,
    TrainEvalRequest,
)

LITE = ModelKey("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="module")
def session():
    return Session()


def test_layers_preprocess_and_batchnorm(session, samples_dir):
    cat = str(samples_dir / "cat.jpg")
    layers = TeachLayersRequest(LITE).execute(session, QUIET)
    assert layers.dropout == ("classifier.0",) and layers.batchnorm[0] == "features.0.bn"
    assert len(layers.residual_adds) > 0
    outcome = PreprocessRequest(LITE, cat).execute(session, QUIET)
    strip = outcome.strip
    assert outcome.lab_crops == () and outcome.original is None
    engine = session.engine_for(LITE)
    np.testing.assert_array_equal(strip.tensor, engine.to_tensor(session.image_for(cat)).numpy())
    # Through the lab: the strip starts from the augmented image the model is fed.
    flip = AugmentSettings(parse_spec("RandomHorizontalFlip(p=1.0)"))
    flipped = PreprocessRequest(LITE, cat, flip).execute(session, QUIET).strip
    np.testing.assert_array_equal(flipped.original, strip.original[:, ::-1])
    crop = AugmentSettings(parse_spec("RandomResizedCrop(size=[300, 300])"), seed=2)
    cropped = PreprocessRequest(LITE, cat, crop).execute(session, QUIET)
    (box,) = cropped.lab_crops
    assert box.on_original and box.input_size == cropped.original.shape[:2]
    assert cropped.strip.original.shape[:2] == (300, 300)
    view = BatchNormRequest(LITE, cat, "features.0.bn").execute(session, QUIET)
    assert view.layer_output_max_error < 1e-4


def test_train_eval_reports_progress_and_stops_when_cancelled(session, samples_dir):
    cat = str(samples_dir / "cat.jpg")
    context = RecordingContext(stop=stop_after(2))
    outcome = TrainEvalRequest(LITE, cat, passes=40, dropout_p=0.5).execute(session, context)
    assert outcome.passes.cancelled and outcome.passes.done == 16
    assert context.seen == [(8, 40), (16, 40)] and context.yields >= 3
    assert outcome.dropout is not None and outcome.dropout.p == 0.5
    assert outcome.trap.layer == "features.0.bn"


def test_policy_draws_of_the_lab(session, samples_dir):
    cat = str(samples_dir / "cat.jpg")
    settings = AugmentSettings(parse_spec("TrivialAugmentWide(); RandAugment(num_ops=3)"), seed=5)
    draws = PolicyDrawRequest(cat, settings).execute(session, QUIET)
    assert [d.transform for d in draws] == ["TrivialAugmentWide", "RandAugment"]
    assert len(draws[0].ops) == 1 and len(draws[1].ops) == 3
    again = PolicyDrawRequest(cat, settings).execute(session, QUIET)
    assert [d.summary() for d in again] == [d.summary() for d in draws]

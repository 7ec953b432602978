"""Cascading randomisation (Adebayo et al. 2018) on the trained Lite0 and a seeded ResNet-18."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_models import resnet18_engine

from cnnviz.core.explain import contrast, explain, explain_grid, occluder_probe, sanity_check
from cnnviz.core.explain.methods import model_input
from cnnviz.core.explain.sanity import TRAINED, randomisation_blocks
from cnnviz.core.images import load_image


@pytest.fixture(scope="module")
def cat(samples_dir):
    return load_image(samples_dir / "cat.jpg")


def test_trained_lite0_gradcam_decorrelates_under_full_randomisation(lite_engine, cat):
    before = {k: v.clone() for k, v in lite_engine.model.state_dict().items()}
    seen = []
    check = sanity_check(
        lite_engine, cat, "gradcam", progress=lambda d, t: seen.append((d, t)), seed=1
    )
    blocks = [
        name for name, _ in randomisation_blocks(lite_engine.model, torch.zeros(1, 3, 64, 64))
    ]
    assert [s.block for s in check.steps] == [TRAINED, *blocks]
    assert blocks[0] == "classifier.1" and blocks[-1] == "features.0"
    assert check.steps[0].rho == 1.0
    trained = explain(lite_engine, cat, "gradcam")
    np.testing.assert_array_equal(check.steps[0].map, trained.map)
    assert check.class_index == trained.class_index and check.layer == "features.8"
    assert check.steps[-1].rho < 0.9
    assert seen[-1] == (len(blocks) + 1, len(blocks) + 1)
    after = lite_engine.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the engine's model untouched


def test_resnet18_blocks_run_from_the_output_backwards(tmp_path_factory):
    engine = resnet18_engine(tmp_path_factory.mktemp("weights"))
    names = [n for n, _ in randomisation_blocks(engine.model, torch.zeros(1, 3, 64, 64))]
    expected = ["fc"] + [f"layer{i}.{j}" for i in (4, 3, 2, 1) for j in (1, 0)] + ["bn1", "conv1"]
    assert names == expected


def test_randomisation_is_seeded_and_cancellable(lite_engine, cat):
    first = sanity_check(lite_engine, cat, "gradcam", max_steps=2, seed=5)
    again = sanity_check(lite_engine, cat, "gradcam", max_steps=2, seed=5)
    assert len(first.steps) == 3
    np.testing.assert_array_equal(first.steps[2].map, again.steps[2].map)
    calls = []
    stopped = sanity_check(
        lite_engine, cat, "saliency", cancelled=lambda: calls.append(1) or len(calls) > 1
    )
    assert stopped.cancelled and len(stopped.steps) == 2


def test_contrast_grid_and_probe(lite_engine, cat):
    pair = contrast(lite_engine, cat, "gradcam", "tiger cat", "Egyptian cat")
    np.testing.assert_allclose(pair.difference, pair.a.map - pair.b.map)
    assert (pair.a.class_index, pair.b.class_index) == (282, 285)
    assert pair.upsampled.shape == (224, 224) and np.abs(pair.upsampled).max() == pytest.approx(1)
    grid = explain_grid(lite_engine, cat, ["gradcam", "saliency"], target_class=285)
    assert [g.method for g in grid] == ["gradcam", "saliency"]
    assert {g.class_index for g in grid} == {285}
    probe = occluder_probe(lite_engine, cat, top=40, left=60, size=80)
    x = model_input(lite_engine, cat).clone()
    x[..., 40:120, 60:140] = 0.0  # the mean fill is 0 after normalisation
    with torch.inference_mode():
        expected = torch.softmax(lite_engine.model(x), 1)[0]
    np.testing.assert_allclose(probe.probabilities, expected.numpy(), atol=1e-6)
    assert [c.index for c in probe.top] == expected.topk(5).indices.tolist()

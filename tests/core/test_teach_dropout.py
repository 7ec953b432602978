"""Train vs eval behaviour: dropout passes, the dropout mask, batch norm with a batch of one."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnviz.core.teach.dropout import (
    NotADropoutLayerError,
    batch_of_one,
    dropout_at,
    dropout_layers,
    train_vs_eval,
)


@pytest.fixture(scope="module")
def cat(samples_dir):
    with Image.open(samples_dir / "cat.jpg") as im:
        return im.convert("RGB")


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_eval_is_fixed_train_varies_and_spread_grows_with_p(lite_engine, cat):
    before = _state(lite_engine.model)
    first = lite_engine.predict(cat, topk=5).probabilities
    assert np.array_equal(first, lite_engine.predict(cat, topk=5).probabilities)
    spreads = []
    for p in (0.05, 0.2, 0.5):
        result = train_vs_eval(lite_engine, cat, passes=8, topk=3, dropout_p=p, seed=1)
        assert result.done == 8 and result.pass_probabilities.shape == (8, 3)
        assert [c.index for c in result.classes] == list(np.argsort(-first)[:3])
        assert result.classes[0].eval_probability == pytest.approx(float(first.max()), abs=1e-6)
        assert result.dropout_layers == (("classifier.0", p),)
        spreads.append(float(result.pass_probabilities.std(axis=0).mean()))
    assert spreads[0] > 0  # train-mode outputs vary
    assert spreads[0] < spreads[1] < spreads[2], spreads
    # The same seed gives the same passes; the caller's model is untouched.
    again = train_vs_eval(lite_engine, cat, passes=8, topk=3, dropout_p=0.5, seed=1)
    assert np.array_equal(again.pass_probabilities, result.pass_probabilities)
    train_vs_eval(lite_engine, cat, passes=2, batchnorm=True)
    assert not lite_engine.model.training
    assert lite_engine.model.classifier[0].p == pytest.approx(0.2)
    after = _state(lite_engine.model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats too


def test_cancel_returns_what_it_has(lite_engine, cat):
    calls = []
    result = train_vs_eval(
        lite_engine,
        cat,
        passes=50,
        topk=2,
        progress=lambda i, n: calls.append(i),
        cancelled=lambda: len(calls) >= 3,
    )
    assert result.cancelled and result.done == 24 and calls == [8, 16, 24]
    one = train_vs_eval(
        lite_engine, cat, passes=5, topk=2, batchnorm=True, progress=lambda i, n: calls.append(i)
    )
    assert one.done == 5 and calls[3:] == [1, 2, 3, 4, 5]  # batch norm: one image at a time


def test_dropout_mask_and_scaling_equal_a_hand_computation(lite_engine, cat):
    assert dropout_layers(lite_engine.model) == ["classifier.0"]
    view = dropout_at(lite_engine, cat, "classifier.0", seed=3, dropout_p=0.4)
    # An independent capture: the test's own train-mode copy, hook and seed.
    model = copy.deepcopy(lite_engine.model).eval()
    model.classifier[0].p = 0.4
    model.classifier[0].train()
    for m in model.modules():
        if type(m).__name__ == "StochasticDepth":
            m.train()
    seen = {}
    model.classifier[0].register_forward_hook(
        lambda _m, i, o: seen.update(x=i[0][0].clone(), y=o[0].clone())
    )
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(3)
        model(lite_engine.to_tensor(cat)[None])
    x, y = seen["x"].numpy(), seen["y"].numpy()
    assert np.array_equal(view.input, x) and np.array_equal(view.output, y)
    assert view.scale == pytest.approx(1 / 0.6)
    # Hand computation: survivors scaled by 1/(1-p), the rest zero.
    np.testing.assert_allclose(view.output, np.where(view.kept, x / 0.6, 0.0), rtol=1e-6)
    nonzero = x != 0
    assert np.array_equal(view.kept[nonzero], y[nonzero] != 0)
    n = x.size
    assert abs(view.zeroed_fraction - 0.4) < 5 * np.sqrt(0.4 * 0.6 / n)
    with pytest.raises(NotADropoutLayerError):
        dropout_at(lite_engine, cat, "features.0.bn")


def test_batch_norm_with_a_batch_of_one(lite_engine, cat):
    with pytest.raises(ValueError) as torch_says:
        nn.BatchNorm1d(4).train()(torch.zeros(1, 4))
    trap = batch_of_one(lite_engine, cat)
    assert trap.batchnorm1d_error == str(torch_says.value)
    assert trap.layer == "features.0.bn"
    # Hand computation from the layer's captured input and the image's own statistics.
    bn = lite_engine.model.features[0].bn
    seen = {}
    handle = bn.register_forward_pre_hook(lambda _m, i: seen.update(x=i[0][0].clone()))
    try:
        lite_engine.forward(lite_engine.to_tensor(cat)[None])
    finally:
        handle.remove()
    x = seen["x"].detach().double().flatten(1)
    xhat = (x - x.mean(1, keepdim=True)) / torch.sqrt(
        x.var(1, unbiased=False, keepdim=True) + bn.eps
    )
    y = bn.weight.detach().double()[:, None] * xhat + bn.bias.detach().double()[:, None]
    np.testing.assert_allclose(trap.train_output_mean, y.mean(1).numpy(), atol=1e-4)
    np.testing.assert_allclose(
        trap.train_output_std, y.std(1, unbiased=False).numpy(), rtol=1e-3, atol=1e-4
    )
    np.testing.assert_allclose(trap.train_output_mean, trap.beta, atol=1e-4)
    assert trap.eval_top1 == lite_engine.predict(cat).top[0].label
    assert not lite_engine.model.training

"""A residual add as x, F(x) and x + F(x): the sum equals the add node's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnviz.core.engine import Engine
from cnnviz.core.teach.residual import NotAnAddError, residual_adds, residual_at


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return Engine.load("resnet18", device="cpu")


@pytest.fixture(scope="module")
def image(samples_dir):
    with Image.open(samples_dir / "dahlia.jpg") as im:
        return im.convert("RGB").resize((96, 80))


def _hooks(model, x, outs=(), ins=()):
    # The test's own capture: plain hooks, cloned (in-place adds and ReLUs follow).
    got, handles = {}, []
    modules = dict(model.named_modules())

    def keep(name, value):
        got.setdefault(name, value.clone())  # returns None: a hook must not replace values

    for n in outs:
        handles.append(modules[n].register_forward_hook(lambda _m, _i, o, n=n: keep(n, o) or None))
    for n in ins:
        handles.append(
            modules[n].register_forward_pre_hook(lambda _m, i, n=n: keep(n, i[0]) or None)
        )
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return got


def test_sum_equals_the_add_nodes_output(resnet, image):
    adds = residual_adds(resnet)
    assert adds == [f"layer{i}.{j}.add" for i in range(1, 5) for j in range(2)]
    x = resnet.to_tensor(image)[None]
    got = _hooks(
        resnet.model,
        x,
        outs=["layer1.0.bn2", "layer2.0.bn2", "layer2.0.downsample", "layer2.0"],
        ins=["layer1.0"],
    )
    view = residual_at(resnet, image, "layer1.0.add")
    assert (view.skip_name, view.branch_name) == ("maxpool", "layer1.0.bn2")
    np.testing.assert_array_equal(view.skip, got["layer1.0"][0].numpy())  # identity: block input
    np.testing.assert_array_equal(view.branch, got["layer1.0.bn2"][0].numpy())
    np.testing.assert_array_equal(view.total, view.node_output)
    view2 = residual_at(resnet, image, "layer2.0.add")
    assert view2.skip_name == "layer2.0.downsample.1" and view2.branch_name == "layer2.0.bn2"
    np.testing.assert_allclose(view2.skip, got["layer2.0.downsample"][0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        view2.total, (got["layer2.0.bn2"] + got["layer2.0.downsample"])[0].numpy(), rtol=1e-6
    )
    # The block's output is ReLU(x + F(x)).
    np.testing.assert_allclose(F.relu(torch.from_numpy(view2.total)), got["layer2.0"][0], rtol=1e-6)
    low, high = view2.value_range
    for a in (view2.skip, view2.branch, view2.total):
        assert low <= a.min() and a.max() <= high
    assert view2.norms["sum"] == pytest.approx(float(np.linalg.norm(view2.total.astype(float))))


def test_not_an_add(resnet, image):
    with pytest.raises(NotAnAddError):
        residual_at(resnet, image, "layer1.0.conv1")

"""Grad-CAM and Grad-CAM++ against the grad-cam package and a plain-autograd Grad-CAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_models import resnet18_engine

from cnnviz.core.errors import UserError
from cnnviz.core.explain import NotSpatialLayerError, explain
from cnnviz.core.explain.methods import model_input
from cnnviz.core.images import load_image
from cnnviz.core.inspect.capture import UnknownLayerError

pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

PACKAGE = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory):
    return resnet18_engine(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def cat(samples_dir):
    return load_image(samples_dir / "cat.jpg")


def _engine(request, name):
    return request.getfixturevalue("resnet18" if name == "resnet18" else "lite_engine")


def package_cam(model, method, layer, x, target):
    """(raw map at the layer's resolution after ReLU, the package's 0..1 upsampled map)."""
    module = dict(model.named_modules())[layer]
    cam = PACKAGE[method](model=model, target_layers=[module])
    try:
        upsampled = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
        saved = cam.activations_and_grads
        raw = cam.get_cam_image(
            x, module, None, saved.activations[0].numpy(), saved.gradients[0].numpy()
        )
    finally:
        cam.activations_and_grads.release()
        for p in model.parameters():
            p.grad = None
    return np.maximum(raw[0], 0), upsampled


def autograd_gradcam(model, layer, x, target):
    """Textbook Grad-CAM: full forward with grad, hook keeps the layer output, full backward."""
    kept = {}

    def hook(_m, _i, out):
        out.retain_grad()
        kept["a"] = out

    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        with torch.enable_grad():
            model(x.clone().requires_grad_())[0, target].backward()
    finally:
        handle.remove()
    a, g = kept["a"], kept["a"].grad
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))[0]
    for p in model.parameters():
        p.grad = None
    return cam.detach().numpy()


CASES = [
    ("resnet18", None, "layer4.1"),
    ("resnet18", "layer3.1", "layer3.1"),
    ("lite", None, "features.8"),
    ("lite", "features.5", "features.5"),
]


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
@pytest.mark.parametrize(("model_name", "layer", "expected_layer"), CASES)
def test_cams_match_the_grad_cam_package(request, cat, method, model_name, layer, expected_layer):
    engine = _engine(request, model_name)
    result = explain(engine, cat, method, layer=layer)
    assert result.layer == expected_layer  # the default is the last conv block
    x = engine.to_tensor(cat).unsqueeze(0)
    raw, upsampled = package_cam(engine.model, method, expected_layer, x, result.class_index)
    assert result.map.shape == raw.shape
    assert raw.max() > 0  # a meaningful map, not all zeros
    # float32 sums in another order (torch here, numpy there): Grad-CAM++'s ratios amplify it.
    np.testing.assert_allclose(result.map, raw, rtol=1e-3, atol=1e-4 * raw.max())
    assert result.upsampled.shape == upsampled.shape == (224, 224)
    # The package min-max scales, resizes with OpenCV, then min-max scales again (its
    # multi-layer aggregation); cnnviz scales once, so the second stretch is redone here.
    ours = result.upsampled - result.upsampled.min()
    np.testing.assert_allclose(ours / ours.max(), upsampled, atol=1e-3)
    assert result.upsampled.min() >= 0 and result.upsampled.max() <= 1


@pytest.mark.parametrize(("model_name", "layer", "expected_layer"), [CASES[0], CASES[3]])
def test_gradcam_matches_plain_autograd(request, cat, model_name, layer, expected_layer):
    engine = _engine(request, model_name)
    target = 281  # tabby, whatever the model predicts
    result = explain(engine, cat, "gradcam", target_class=target, layer=layer)
    reference = autograd_gradcam(engine.model, expected_layer, model_input(engine, cat), target)
    assert result.class_index == target
    np.testing.assert_allclose(result.map, reference, rtol=1e-4, atol=1e-6 * reference.max())


def test_explaining_leaves_the_model_as_it_was(lite_engine, cat):
    model = lite_engine.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for method in ("gradcam", "gradcam++", "saliency"):
        explain(lite_engine, cat, method)
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert not model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.is_grad_enabled()


def test_probability_and_top5_are_the_models_own(lite_engine, cat):
    result = explain(lite_engine, cat, "gradcam", target_class="Egyptian cat")
    with torch.inference_mode():
        probs = torch.softmax(lite_engine.model(lite_engine.to_tensor(cat).unsqueeze(0)), 1)[0]
    assert result.class_index == 285 and result.class_label == "Egyptian cat"
    assert result.probability == pytest.approx(float(probs[285]), rel=1e-5)
    assert [c.index for c in result.top] == probs.topk(5).indices.tolist()


def test_bad_layers_are_user_errors(lite_engine, cat):
    with pytest.raises(UnknownLayerError, match="features.88"):
        explain(lite_engine, cat, "gradcam", layer="features.88")
    with pytest.raises(NotSpatialLayerError):
        explain(lite_engine, cat, "gradcam", layer="classifier.1")  # a Linear: (N, classes)
    assert issubclass(NotSpatialLayerError, UserError)

"""The live analysis through the Session: one forward per update, never a stale result."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.analysis import AnalysisRequest, AnalysisResult
from cnnviz.core.augment.spec import AugmentSettings, parse_spec
from cnnviz.core.images import ImageLoadError
from cnnviz.core.inspect.settings import LayerSettings
from cnnviz.core.requests import QUIET, ModelKey
from cnnviz.core.session import Session

KEY = ModelKey("lenet5", device="cpu")
LITE = ModelKey("efficientnet_lite0", device="cpu")


def _analyse(session: Session, *args, **kwargs) -> AnalysisResult:
    return AnalysisRequest(*args, **kwargs).execute(session, QUIET)


def _forward_counter(session: Session, first_layer: str) -> list[int]:
    """Counts full forward passes: every one runs the first layer exactly once, whether
    through the model or through a feature extractor that shares its modules."""
    calls = [0]
    module = dict(session.engine.model.named_modules())[first_layer]
    module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_switching_layers_costs_at_most_one_forward(samples_dir):
    session = Session()
    digit = str(samples_dir / "digits" / "digit_7.png")
    first = _analyse(session, KEY, digit, layer=LayerSettings("features.0"))
    calls = _forward_counter(session, "features.0")
    second = _analyse(session, KEY, digit, layer=LayerSettings("features.3"))
    assert calls[0] == 1  # the prediction and the layer come from the same forward
    np.testing.assert_array_equal(second.prediction.probabilities, first.prediction.probabilities)
    assert second.layer_view.layer == "features.3"
    assert second.layer_view.activation.shape == (16, 10, 10)
    _analyse(session, KEY, digit, layer=LayerSettings("features.3", normalise="shared"))
    assert calls[0] == 1  # a montage setting reuses the captured layer: no forward


def test_each_live_lab_update_with_the_explorer_open_is_one_forward(samples_dir):
    session = Session()
    cat = str(samples_dir / "cat.jpg")
    layer = LayerSettings("features.1.0.project.conv")
    _analyse(
        session,
        LITE,
        cat,
        augment=AugmentSettings(parse_spec("RandomRotation(degrees=[5, 5])")),
        layer=layer,
    )
    calls = _forward_counter(session, "features.0.conv")
    for angle in (10, 15, 20, 25):
        spec = parse_spec(f"RandomRotation(degrees=[{angle}, {angle}])")
        result = _analyse(session, LITE, cat, augment=AugmentSettings(spec), layer=layer)
        assert result.lab is not None and result.layer_view is not None
    assert calls[0] == 4
    # A join (a residual add) is captured in the same pass too.
    result = _analyse(session, LITE, cat, layer=LayerSettings("features.2.1.add"))
    assert calls[0] == 5 and result.layer_view.description.kind == "add"


def test_hidden_panels_cost_nothing(samples_dir):
    session = Session()
    cat = str(samples_dir / "cat.jpg")
    only_maps = LayerSettings("features.0.conv", parts=frozenset({"maps"}))
    view = _analyse(session, LITE, cat, layer=only_maps).layer_view
    assert view.stats is None and view.kernels is None and view.im2col is None
    assert _analyse(session, LITE, cat).layer_view is None  # explorer hidden: no layer at all


def test_a_new_image_or_model_is_classified_afresh(samples_dir):
    session = Session()
    seven, three = (str(samples_dir / "digits" / f"digit_{d}.png") for d in (7, 3))
    a = _analyse(session, KEY, seven)
    b = _analyse(session, KEY, three)
    assert a.prediction.top[0].label == "7" and b.prediction.top[0].label == "3"
    c = _analyse(session, LITE, three)
    assert c.model.arch == "efficientnet_lite0" and len(c.prediction.probabilities) == 1000
    d = _analyse(session, KEY, three)
    assert d.prediction is not b.prediction  # a reloaded model is never served an old result
    assert np.allclose(d.prediction.probabilities, b.prediction.probabilities)


def test_bad_image_raises_and_the_session_keeps_working(tmp_path, samples_dir):
    session = Session()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageLoadError, match="bad.png"):
        _analyse(session, KEY, str(bad))
    good = _analyse(session, KEY, str(samples_dir / "digits" / "digit_1.png"))
    assert good.prediction.top[0].label == "1"


def test_results_hold_no_torch_tensors(samples_dir):
    import dataclasses

    import torch

    session = Session()
    spec = parse_spec("RandomHorizontalFlip(p=1.0)")
    result = _analyse(
        session,
        LITE,
        str(samples_dir / "cat.jpg"),
        augment=AugmentSettings(spec),
        layer=LayerSettings("features.0.conv"),
    )

    def walk(value: object, path: str) -> None:
        assert not isinstance(value, torch.Tensor), path
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), f"{path}.{f.name}")
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}[{k!r}]")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(result, "result")


def test_the_layer_is_drawn_while_the_forward_goes_on_and_equals_a_view_drawn_after(
    samples_dir,
):
    """The montage and statistics start on the helper thread as soon as the layer has run
    (before the last layer), and are what a plain capture drawn afterwards gives."""
    from cnnviz.core.engine import Engine
    from cnnviz.core.images import load_image
    from cnnviz.core.inspect.view import build_layer_view

    session = Session()
    cat = str(samples_dir / "cat.jpg")
    layer = LayerSettings("features.0.conv", parts=frozenset({"maps", "stats"}))
    spec = parse_spec("RandomHorizontalFlip(p=1.0)")
    _analyse(session, LITE, cat, layer=LayerSettings("features.1.0.project.conv"))
    model = session.engine.model
    order: list[str] = []
    drawing = session.in_background

    def in_background(work, *args):
        order.append(work.__name__)
        return drawing(work, *args)

    session.in_background = in_background  # type: ignore[method-assign]
    last = model.classifier if hasattr(model, "classifier") else list(model.children())[-1]
    last.register_forward_pre_hook(lambda *_: order.append("last layer"))
    result = _analyse(session, LITE, cat, augment=AugmentSettings(spec), layer=layer)
    assert order == ["lab_pictures", "layer_pictures", "last layer"]

    # Independently: a fresh engine, the flipped photo, one capture drawn afterwards.
    flipped = load_image(samples_dir / "cat.jpg").transpose(0)  # Image.FLIP_LEFT_RIGHT
    reference = build_layer_view(Engine.load("efficientnet_lite0", device="cpu"), flipped, layer)
    view = result.layer_view
    np.testing.assert_allclose(view.activation, reference.activation, rtol=1e-5, atol=1e-5)
    assert view.stats.mean == pytest.approx(reference.stats.mean, rel=1e-5)
    assert view.stats.dead_channels == reference.stats.dead_channels
    assert view.montage.image.shape == reference.montage.image.shape


def test_short_jobs_run_torch_on_one_thread_and_long_jobs_on_all(samples_dir):
    import torch

    from cnnviz.core.requests import Request

    seen: list[int] = []

    class Probe(Request[int]):
        def execute(self, session, context):
            seen.append(torch.get_num_threads())
            return 0

    class LongProbe(Probe):
        long = True

    before = torch.get_num_threads()
    session = Session()
    session.run(Probe())
    session.run(LongProbe())
    assert seen == [1, before]
    assert torch.get_num_threads() == before  # put back after each job

"""The worker's Session: caching that saves forwards but never serves another input's result."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.images import ImageLoadError
from cnnviz.core.session import AnalysisRequest, LayerSettings, ModelKey, Session

KEY = ModelKey("lenet5", device="cpu")


def _forward_counter(session: Session) -> list[int]:
    calls = [0]
    session.engine.model.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_switching_layers_costs_one_forward_not_two(samples_dir):
    session = Session()
    digit = str(samples_dir / "digits" / "digit_7.png")
    first = session.analyse(AnalysisRequest(1, KEY, digit, layer=LayerSettings("features.0")))
    calls = _forward_counter(session)
    second = session.analyse(AnalysisRequest(2, KEY, digit, layer=LayerSettings("features.3")))
    assert calls[0] == 1  # the layer view's forward only; the prediction was reused
    assert second.prediction is first.prediction
    assert second.layer_view.layer == "features.3"
    assert second.layer_view.activation.shape == (16, 10, 10)


def test_a_new_image_or_model_is_classified_afresh(samples_dir):
    session = Session()
    seven, three = (str(samples_dir / "digits" / f"digit_{d}.png") for d in (7, 3))
    a = session.analyse(AnalysisRequest(1, KEY, seven))
    b = session.analyse(AnalysisRequest(2, KEY, three))
    assert a.prediction.top[0].label == "7" and b.prediction.top[0].label == "3"
    c = session.analyse(AnalysisRequest(3, ModelKey("efficientnet_lite0", device="cpu"), three))
    assert c.model.arch == "efficientnet_lite0" and len(c.prediction.probabilities) == 1000
    d = session.analyse(AnalysisRequest(4, KEY, three))
    assert d.prediction is not b.prediction  # a reloaded model is never served an old result
    assert np.allclose(d.prediction.probabilities, b.prediction.probabilities)


def test_bad_image_raises_and_the_session_keeps_working(tmp_path, samples_dir):
    session = Session()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageLoadError, match="bad.png"):
        session.analyse(AnalysisRequest(1, KEY, str(bad)))
    good = session.analyse(AnalysisRequest(2, KEY, str(samples_dir / "digits" / "digit_1.png")))
    assert good.prediction.top[0].label == "1"

"""Hostile weights files (issue 13, failures 4, 5 and 8): generated here, each one short error."""

from __future__ import annotations

import json
import math
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from cnnviz.core.device import DeviceError, resolve_device
from cnnviz.core.engine import Engine
from cnnviz.core.inspect.stats import activation_stats
from cnnviz.core.zoo.models.lenet import lenet5
from cnnviz.core.zoo.registry import get_arch
from cnnviz.core.zoo.weights import (
    NonFiniteWeightsError,
    WeightsError,
    load_model,
    read_state_dict,
    require_finite_weights,
)

MAX_MESSAGE = 200


def _safetensors(path: Path, header: bytes | dict, data: bytes = b"", length: int | None = None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


def _entry(dtype="F32", shape=(1,), offsets=(0, 4)) -> dict:
    return {"w": {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}}


def _sparse_gigabyte(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # a hole: takes no disk space, reads as zeros


MALFORMED = {
    "empty": (lambda p: p.write_bytes(b""), "empty file, not a safetensors file"),
    "random bytes": (
        lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
        "runs past the end of the 4096-byte file",
    ),
    "huge header length": (
        lambda p: _safetensors(p, _entry(), bytes(4), length=1 << 62),
        "its header length, 4611686018427387904 bytes, runs past the end",
    ),
    "header past the end": (
        lambda p: _safetensors(p, _entry(), bytes(4), length=10_000),
        "its header length, 10000 bytes, runs past the end",
    ),
    "bad JSON": (lambda p: _safetensors(p, b"{not json"), "its header is not JSON"),
    "JSON list": (lambda p: _safetensors(p, b"[1, 2]"), "its header is not a JSON object"),
    "unknown dtype": (
        lambda p: _safetensors(p, _entry(dtype="Q99"), bytes(4)),
        "tensor w: unknown dtype 'Q99'",
    ),
    "offsets past the data": (
        lambda p: _safetensors(p, _entry(offsets=(0, 400)), bytes(4)),
        "tensor w: data offsets [0, 400] outside the 4 bytes of data",
    ),
    "shape not matching": (
        lambda p: _safetensors(p, _entry(shape=(3,)), bytes(4)),
        "tensor w: shape [3] of F32 needs 12 bytes, not 4",
    ),
    "negative shape": (
        lambda p: _safetensors(p, _entry(shape=(-1,)), bytes(4)),
        "tensor w: bad shape [-1]",
    ),
    "1 GB sparse file": (_sparse_gigabyte, "its header is not JSON"),
    "pickle named .safetensors": (
        lambda p: torch.save({"w": torch.zeros(1)}, p),
        "a PyTorch pickle checkpoint, not a safetensors file",
    ),
}


def _assert_short(message: str) -> None:
    assert "\n" not in message and len(message) <= MAX_MESSAGE, message


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_safetensors_give_one_short_weights_error(tmp_path, case):
    make, expected = MALFORMED[case]
    path = tmp_path / "model.safetensors"
    make(path)
    for load in (read_state_dict, lambda p: load_model(get_arch("lenet5"), weights_file=p)):
        with pytest.raises(WeightsError) as info:
            load(path)
        assert str(info.value).startswith("model.safetensors: ")
        assert expected in str(info.value)
        _assert_short(str(info.value))


def test_a_real_safetensors_file_still_loads(tmp_path):
    state = lenet5().state_dict()
    save_file(state, str(tmp_path / "ok.safetensors"))
    loaded = read_state_dict(tmp_path / "ok.safetensors")
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_checkpoint_on_which_torch_load_raises_key_error(tmp_path):
    path = tmp_path / "memo.pth"
    path.write_bytes(b"\x80\x02h\x05.")  # PROTO 2, BINGET 5 from an empty memo, STOP
    with pytest.raises(KeyError):
        torch.load(path, weights_only=True)  # the hostile file, as torch sees it
    with pytest.raises(WeightsError) as info:
        read_state_dict(path)
    assert str(info.value) == "memo.pth: not a readable weights file (KeyError: 5)"


def test_meta_tensors_are_refused_in_one_short_line(tmp_path):
    path = tmp_path / "outline.pth"
    torch.save({k: v.to("meta") for k, v in lenet5().state_dict().items()}, path)
    with pytest.raises(WeightsError) as info:
        load_model(get_arch("lenet5"), weights_file=path)
    message = str(info.value)
    assert message.startswith("outline.pth: 10 of 10 tensors hold no values (meta tensors, e.g. ")
    assert "features.0.weight" in message
    _assert_short(message)


class _System:
    """Pickles into os.system(command): what a loader that runs pickles would execute."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("how", ["torch zip", "bare pickle 2", "bare pickle 4"])
def test_pickle_calling_os_system_is_refused_as_code(tmp_path, how):
    marker = tmp_path / "pwned"
    payload = _System(f"touch {marker}")
    path = tmp_path / "evil.pth"
    if how == "torch zip":
        torch.save({"conv.weight": torch.zeros(1), "x": payload}, path)
    else:
        path.write_bytes(pickle.dumps({"x": payload}, protocol=int(how[-1])))
    with pytest.raises(WeightsError) as info:
        load_model(get_arch("lenet5"), weights_file=path)
    message = str(info.value)
    assert message.startswith("evil.pth: refused: the file holds code (it would call ")
    assert f"{os.system.__module__}.system" in message
    _assert_short(message)
    assert not marker.exists()


@pytest.fixture(scope="module")
def nan_lenet() -> torch.nn.Module:
    model = lenet5()
    with torch.no_grad():
        model.features[3].weight[0, 0, 0, 0] = math.nan
        model.classifier[4].bias.fill_(math.inf)
    return model


def test_non_finite_weights_are_named(nan_lenet):
    with pytest.raises(NonFiniteWeightsError) as info:
        require_finite_weights(nan_lenet, "bad.safetensors")
    assert str(info.value) == (
        "bad.safetensors: 2 weight tensors hold NaN or infinite values (e.g. features.3.weight, "
        "classifier.4.bias); what the model computes from them means nothing"
    )
    assert isinstance(info.value, WeightsError)
    assert require_finite_weights(lenet5(), "fine") is None


def test_activation_stats_survive_nan_and_inf():
    act = np.full((2, 3, 3), np.nan, np.float32)
    stats = activation_stats(act)  # numpy's histogram raised on the [nan, nan] range
    assert stats.hist_counts.sum() == 0 and np.isfinite(stats.hist_edges).all()
    act[0, 0, :] = [1.0, 2.0, np.inf]
    stats = activation_stats(act)
    assert stats.hist_counts.sum() == 2  # the finite values, nothing else
    assert stats.hist_edges[0] == 1.0 and stats.hist_edges[-1] == 2.0


def test_prediction_flags_non_finite_logits(tmp_path, samples_dir):
    digit = samples_dir / "digits" / "digit_7.png"
    from cnnviz.core.images import load_image

    image = load_image(digit)
    good = Engine.load("lenet5", device="cpu").predict(image, topk=3)
    assert good.non_finite is False and np.isfinite(good.probabilities).all()
    path = tmp_path / "nan.safetensors"
    save_file({k: torch.full_like(v, math.nan) for k, v in lenet5().state_dict().items()}, path)
    bad = Engine.load("lenet5", weights_file=path, device="cpu").predict(image, topk=3)
    assert bad.non_finite is True and np.isnan(bad.probabilities).all()


@pytest.mark.parametrize("name", ["cpu:5", "cpu:1"])
def test_devices_that_do_not_exist_are_refused(name):
    with pytest.raises(DeviceError, match="there is no"):
        resolve_device(name)
    assert resolve_device("cpu:0") == torch.device("cpu:0")

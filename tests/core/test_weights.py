"""Weights resolution, safe loading, clear mismatch messages and downloads."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import socket
import threading
import types
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from cnnviz.core.zoo.registry import get_arch
from cnnviz.core.zoo.weights import (
    DownloadCancelled,
    Source,
    WeightsError,
    availability,
    cache_dir,
    download,
    load_model,
    read_state_dict,
)


class _Payload:
    """Pickles into a call that would create a file if a loader ever ran it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "extra": _Payload(marker)}, evil)
    # Sanity check that the payload is live: an unsafe load would run it.
    torch.load(evil, weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(WeightsError, match="refused: the file holds code"):
        read_state_dict(evil)
    with pytest.raises(WeightsError, match="refused: the file holds code"):
        load_model(get_arch("resnet18"), weights_file=evil)
    assert not marker.exists()


def test_corrupt_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(WeightsError, match="junk.pth: not a readable weights file"):
        read_state_dict(junk)
    with pytest.raises(WeightsError, match="not found"):
        read_state_dict(tmp_path / "absent.pth")
    text = tmp_path / "list.pt"
    torch.save([1, 2, 3], text)
    with pytest.raises(WeightsError, match="does not contain a state dict"):
        read_state_dict(text)


def test_wrong_architecture_names_the_mismatch(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(WeightsError) as info:
        load_model(get_arch("alexnet"), weights_file=path)
    message = str(info.value)
    assert "resnet18.pth does not fit AlexNet" in message
    assert "missing" in message and "features.0.weight" in message
    assert "unexpected" in message and "conv1.weight" in message


def test_wrong_shapes_are_named(tmp_path):
    path = tmp_path / "r18_10.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    with pytest.raises(WeightsError, match=r"wrong shape.*fc\.weight \(10, 512\) vs \(1000, 512\)"):
        load_model(get_arch("resnet18"), weights_file=path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_explicit_file_is_loaded_and_reported(tmp_path, suffix):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    path = tmp_path / f"mine{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": reference.state_dict()}, path)  # wrapped, as trainers save
    model, info = load_model(get_arch("resnet18"), weights_file=path)
    assert info.source is Source.FILE and not info.untrained
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    for (name, a), b in zip(
        model.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert not model.training


def test_resolution_order(tmp_path):
    resnet = get_arch("resnet18")
    assert availability(resnet) == "downloadable"
    _, info = load_model(resnet)
    assert info.source is Source.RANDOM and info.untrained and "UNTRAINED" in info.description

    cached = cache_dir() / Path(resnet.torchvision_weights.url).name
    cached.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), cached)
    assert availability(resnet) == "cached"
    _, info = load_model(resnet)
    assert info.source is Source.CACHE and info.path == str(cached)

    lite = get_arch("efficientnet_lite0")
    assert availability(lite) == "offline"
    _, info = load_model(lite)
    assert info.source is Source.BUNDLED and info.sha256 is not None
    own = tmp_path / "lite.pth"
    torch.save(lite.builder().state_dict(), own)
    _, info = load_model(lite, weights_file=own)
    assert info.source is Source.FILE


class _Server:
    """A loopback HTTP server for one folder; tests never leave 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.handle_error = lambda *a: None  # a cancelled client resets its connection
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    torch.manual_seed(3)
    state = torchvision.models.resnet18().state_dict()
    staging = folder / "staging.pth"
    torch.save(state, staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    name = f"resnet18-{digest[:8]}.pth"
    staging.rename(folder / name)
    (folder / "resnet18-00000000.pth").write_bytes((folder / name).read_bytes())
    server = _Server(folder)
    yield server, name, state
    server.close()


def test_download_reports_progress_and_caches(served):
    server, name, state = served
    fake_weights = types.SimpleNamespace(url=server.url(name), meta={"num_params": 0})
    spec = dataclasses.replace(get_arch("resnet18"), torchvision_weights=fake_weights)
    seen = []
    model, info = load_model(spec, allow_download=True, progress=lambda d, t: seen.append((d, t)))
    assert info.source is Source.DOWNLOAD
    total = (cache_dir() / name).stat().st_size
    assert seen[-1] == (total, total)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert torch.equal(model.state_dict()["fc.weight"], state["fc.weight"])
    _, again = load_model(spec)  # now served from torch's cache, no download
    assert again.source is Source.CACHE


def test_download_cancel_leaves_nothing(served, tmp_path):
    server, name, _ = served
    dest = tmp_path / "cache" / name
    with pytest.raises(DownloadCancelled):
        download(server.url(name), dest, cancelled=lambda: True)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_hash_mismatch_is_refused(served, tmp_path):
    server, _, _ = served
    dest = tmp_path / "cache" / "resnet18-00000000.pth"
    with pytest.raises(WeightsError, match="corrupt"):
        download(server.url(dest.name), dest)
    assert not dest.exists()


def test_download_fails_fast_when_unreachable(tmp_path):
    with socket.socket() as s:  # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WeightsError, match="cannot download"):
        download(f"http://127.0.0.1:{port}/x-1234abcd.pth", tmp_path / "x.pth", timeout=2)


def test_failed_or_cancelled_download_falls_back_to_untrained(served):
    server, name, _ = served
    offline = types.SimpleNamespace(url="http://127.0.0.1:9/resnet18-1234abcd.pth", meta={})
    spec = dataclasses.replace(get_arch("resnet18"), torchvision_weights=offline)
    _, info = load_model(spec, allow_download=True)
    assert info.untrained and "cannot download" in info.description
    online = dataclasses.replace(
        spec, torchvision_weights=types.SimpleNamespace(url=server.url(name), meta={})
    )
    _, info = load_model(online, allow_download=True, cancelled=lambda: True)
    assert info.untrained and "cancelled" in info.description
    assert not (cache_dir() / name).exists()


def test_torchvision_inception_checkpoints_with_aux_heads_load(tmp_path):
    # torchvision's published GoogLeNet weights include aux1/aux2; the explorer's model has none.
    full = torchvision.models.googlenet(aux_logits=True, init_weights=False)
    path = tmp_path / "googlenet.pth"
    torch.save(full.state_dict(), path)
    model, info = load_model(get_arch("googlenet"), weights_file=path)
    assert info.source is Source.FILE
    assert torch.equal(model.state_dict()["fc.weight"], full.state_dict()["fc.weight"])

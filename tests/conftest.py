"""Shared fixtures. Qt runs offscreen; tests never touch the network."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"


@pytest.fixture(autouse=True)
def _isolated_torch_cache(tmp_path_factory, monkeypatch):
    """Point torch.hub at an empty folder so no test sees (or fills) the user's cache."""
    hub = tmp_path_factory.mktemp("torch-hub")
    monkeypatch.setattr(torch.hub, "_hub_dir", str(hub))
    yield hub


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="module")
def lite_engine():
    """The offline default model, loaded once per test module."""
    from cnnviz.core.engine import Engine

    return Engine.load("efficientnet_lite0", device="cpu")


@pytest.fixture
def window(qtbot, tmp_path, samples_dir):
    """The real main window on the cat photo, started; its worker is joined afterwards."""
    from qt_helpers import make_window, stop_window

    w = make_window(qtbot, tmp_path, image=str(samples_dir / "cat.jpg"), device="cpu")
    yield w
    stop_window(w)


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)

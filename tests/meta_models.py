"""Registry models built without weights, for tests that only need their structure."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from cnnviz.core.zoo.registry import all_archs


def meta_engine(name: str) -> SimpleNamespace:
    """The registry's model built on the meta device (shapes only), as layer_tree_for sees it."""
    spec = all_archs()[name]
    try:
        with torch.device("meta"):
            model = spec.builder()
        device = torch.device("meta")
    except NotImplementedError:  # regnet computes its widths from real tensors
        model, device = spec.builder(), torch.device("cpu")
    return SimpleNamespace(spec=spec, model=model.eval(), device=device)

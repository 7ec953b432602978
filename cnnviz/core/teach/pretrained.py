"""Pre-trained vs random weights: the same layer's feature maps and filters side by side.

The random model is the same architecture built afresh under a fixed seed (its default
initialisation); the pre-trained one is the engine's own. Both see the very same input
tensor. Trained first-layer filters look like oriented edges and colour blobs; random
ones look like noise, and so do the feature maps they produce deeper in the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core.engine import Engine
from cnnviz.core.errors import UserError
from cnnviz.core.inspect.capture import ActivationCapture, find_module
from cnnviz.core.rng import seeded_rng

MAX_CHANNELS = 16


class NotAConvLayerError(UserError, KeyError):
    """The named layer is missing or is not a 2D convolution."""


@dataclass(frozen=True, eq=False)
class WeightsSide:
    """One model's view of the layer: its first feature maps and filters."""

    maps: np.ndarray  # (≤16, H, W) float32
    filters: np.ndarray  # (≤16, in, kh, kw) float32
    map_std: float  # over all of the layer's output
    filter_std: float  # over all of the layer's weights


@dataclass(frozen=True, eq=False)
class PretrainedComparison:
    """The same conv layer for the same image, with pre-trained and with random weights."""

    layer: str
    trained: WeightsSide
    random: WeightsSide
    seed: int
    trained_description: str  # where the trained weights come from


def conv2d_layers(model: nn.Module) -> list[str]:
    """The names of the model's Conv2d layers, in module order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def random_model(engine: Engine, seed: int) -> nn.Module:
    """The engine's architecture with its default random initialisation under `seed`."""
    with seeded_rng(seed):
        model = engine.spec.builder()
    return model.eval().to(engine.device)


def _side(model: nn.Module, x: torch.Tensor, layer: str) -> WeightsSide:
    conv = find_module(model, layer)
    assert isinstance(conv, nn.Conv2d)
    with ActivationCapture(model, [layer]) as capture, torch.no_grad():
        model(x)
    out = capture.last(layer)[0].float().cpu()
    weight = conv.weight.detach().float().cpu()
    return WeightsSide(
        maps=out[:MAX_CHANNELS].numpy().copy(),
        filters=weight[:MAX_CHANNELS].numpy().copy(),
        map_std=float(out.std()),
        filter_std=float(weight.std()),
    )


def pretrained_vs_random(
    engine: Engine, image: Image.Image | torch.Tensor, layer: str, *, seed: int = 0
) -> PretrainedComparison:
    """Layer `layer` (a Conv2d) for `image` with the engine's weights and random ones."""
    if not isinstance(find_module(engine.model, layer), nn.Conv2d):
        raise NotAConvLayerError(f"{layer!r} is not a Conv2d layer of this model")
    x = engine.to_tensor(image).unsqueeze(0).to(engine.device)
    trained = _side(engine.model, x, layer)
    random = _side(random_model(engine, seed), x, layer)
    return PretrainedComparison(layer, trained, random, seed, engine.weights.description)

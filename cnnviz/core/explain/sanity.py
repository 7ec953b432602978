"""Sanity check for saliency methods (Adebayo et al. 2018): cascading randomisation.

The model is copied; its parameterised blocks are re-initialised one after the other from
the output backwards, and after each step the method's map is recomputed and compared
with the trained model's map by Spearman rank correlation. A method whose maps barely
change does not depend on what the model learned.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.core.engine import Engine
from cnnviz.core.explain.cam import default_cam_layer
from cnnviz.core.explain.classes import resolve_class
from cnnviz.core.explain.methods import (
    CAM_METHODS,
    DEFAULT_OPTIONS,
    ClassChoice,
    ExplainOptions,
    ImageLike,
    check_method,
    compute_map,
    model_input,
)
from cnnviz.core.inspect.layers import hooked_forward
from cnnviz.core.rng import seeded_rng

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
TRAINED = "(trained)"
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a flat array, ties sharing their average rank (scipy's "average")."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(flat, kind="mergesort")
    ordered = flat[order]
    new_value = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = np.empty(flat.size, dtype=np.intp)
    dense[order] = np.cumsum(new_value)
    bounds = np.r_[np.flatnonzero(new_value), flat.size]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally sized arrays; NaN if either is constant."""
    ra, rb = rank(a), rank(b)
    da, db = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    if denominator == 0.0:
        return math.nan
    # sqrt(s * s) == s exactly in IEEE arithmetic, so identical maps give exactly 1.
    return float(np.dot(da, db)) / denominator


def randomisation_blocks(model: nn.Module, x: torch.Tensor) -> list[tuple[str, list[nn.Module]]]:
    """Parameterised blocks from the output backwards: (block name, modules to re-initialise).

    A block is the outermost module under plain containers (Sequential, ModuleList) — a
    residual block, an MBConv block, a conv-BN-activation unit, a lone linear layer — so
    that one step randomises one unit of the architecture.
    """
    modules = dict(model.named_modules())
    # When each module first ran, from the layer tree's own hooked forward.
    order = {name: ticks[0] for name, ticks in hooked_forward(model, x).calls.items() if ticks}
    blocks: dict[str, list[nn.Module]] = {}
    for name, module in modules.items():
        if not name or not any(True for _ in module.parameters(recurse=False)):
            continue
        blocks.setdefault(_block_of(name, modules), []).append(module)
    ranked = sorted(blocks, key=lambda b: order.get(b, -1), reverse=True)
    return [(b, blocks[b]) for b in ranked]


def _block_of(name: str, modules: dict[str, nn.Module]) -> str:
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        if type(modules[prefix]) not in _CONTAINERS:
            return prefix
    return name


def reinitialise(modules: list[nn.Module], seed: int) -> None:
    """Reset each module's own parameters (and buffers) with torch's RNG seeded to `seed`."""
    with seeded_rng(seed):
        for module in modules:
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
                continue
            with torch.no_grad():
                for p in module.parameters(recurse=False):
                    p.normal_(0.0, 0.02)


@dataclass(frozen=True, eq=False)
class SanityStep:
    """The map after randomising every block down to `block` (TRAINED: none)."""

    block: str
    map: np.ndarray  # float32, same resolution as the trained map
    rho: float  # Spearman rank correlation with the trained map (NaN for a constant map)


@dataclass(frozen=True, eq=False)
class SanityCheck:
    method: str
    layer: str | None
    class_index: int
    class_label: str
    steps: tuple[SanityStep, ...]
    cancelled: bool = False

    def rows(self) -> list[tuple[str, np.ndarray, float]]:
        """(block, map, rho) per step, the trained model first."""
        return [(s.block, s.map, s.rho) for s in self.steps]


def sanity_check(
    engine: Engine,
    image: ImageLike,
    method: str,
    *,
    target_class: ClassChoice | None = None,
    layer: str | None = None,
    options: ExplainOptions = DEFAULT_OPTIONS,
    seed: int = 0,
    max_steps: int | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> SanityCheck:
    """Cascading randomisation on a deep copy of the engine's model (the engine is untouched).

    Randomises up to `max_steps` blocks (None: all, ending with a fully random model);
    the class explained stays the one chosen on the trained model. Signed maps are
    compared by magnitude. Progress counts maps computed.
    """
    method = check_method(method)
    x = model_input(engine, image)
    target = None if target_class is None else resolve_class(engine.spec.categories, target_class)
    if method in CAM_METHODS and layer is None:
        layer = default_cam_layer(engine.model, x)
    normalisation = engine.spec.normalisation()

    def compute(model: nn.Module, chosen: int | None) -> tuple[np.ndarray, int]:
        raw = compute_map(
            model, x, method, chosen, layer=layer, options=options, normalisation=normalisation
        )
        return (np.abs(raw.map) if raw.signed else raw.map), raw.target

    model = copy.deepcopy(engine.model).eval()
    blocks = randomisation_blocks(model, x)
    if max_steps is not None:
        blocks = blocks[: max(0, max_steps)]
    total = len(blocks) + 1
    trained, target = compute(model, target)
    steps = [SanityStep(TRAINED, trained, spearman(trained, trained))]
    if progress is not None:
        progress(1, total)
    stopped = False
    for i, (name, modules) in enumerate(blocks):
        if cancelled is not None and cancelled():
            stopped = True
            break
        reinitialise(modules, seed + i)
        heat, _ = compute(model, target)
        steps.append(SanityStep(name, heat, spearman(trained, heat)))
        if progress is not None:
            progress(i + 2, total)
    return SanityCheck(
        method,
        layer if method in CAM_METHODS else None,
        target,
        engine.spec.categories[target],
        tuple(steps),
        stopped,
    )

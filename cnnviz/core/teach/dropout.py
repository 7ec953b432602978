"""Training vs inference behaviour: dropout (and stochastic depth, and batch norm).

In ``eval()`` a model is a fixed function: the same image gives the same answer every time.
In ``train()`` dropout zeroes each unit with probability p and multiplies the survivors by
1/(1−p) (so the expected activation is unchanged), stochastic depth drops whole residual
branches, and batch norm normalises with the statistics of the current batch instead of
its running averages. Everything here runs on a deep COPY of the engine's model: the
caller's model stays in eval mode and its batch-norm running statistics are never updated.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as TF
from torchvision.ops import StochasticDepth

from cnnviz.core.engine import Engine
from cnnviz.core.errors import UserError
from cnnviz.core.inspect.capture import find_module
from cnnviz.core.rng import seeded_rng

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]

_DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
MAX_PASSES = 1000
PASS_BATCH = 8


class NotADropoutLayerError(UserError, KeyError):
    """The named layer is missing or is not a Dropout layer."""


@dataclass(frozen=True)
class ClassSpread:
    """One class: its eval probability beside the mean and spread over train-mode passes."""

    index: int
    label: str
    eval_probability: float
    mean: float
    std: float
    low: float  # the smallest of the passes
    high: float  # the largest of the passes


@dataclass(frozen=True, eq=False)
class TrainEvalResult:
    """N stochastic (train-behaviour) passes of one image beside the one eval answer."""

    classes: tuple[ClassSpread, ...]  # the eval answer's top classes, in its order
    pass_probabilities: np.ndarray  # (passes done, len(classes)) float32
    passes: int  # passes asked for
    done: int  # passes run (fewer when cancelled)
    batchnorm_train: bool  # batch norm also in train behaviour (per-image statistics)
    dropout_layers: tuple[tuple[str, float], ...]  # (name, p) as run
    stochastic_depth_layers: int
    batchnorm_layers: int
    top1_changed_passes: int  # passes whose top-1 is not the eval top-1
    cancelled: bool = False

    def summary(self) -> str:
        """One line for the panel and the CLI."""
        mode = "dropout + batch norm" if self.batchnorm_train else "dropout"
        return (
            f"{self.done} train-mode passes ({mode} in training behaviour): top-1 differs "
            f"from eval in {self.top1_changed_passes} of them"
        )


def _set_train_behaviour(
    model: nn.Module, *, batchnorm: bool, dropout_p: float | None
) -> tuple[tuple[tuple[str, float], ...], int, int]:
    model.eval()
    dropouts: list[tuple[str, float]] = []
    depth = bns = 0
    for name, module in model.named_modules():
        if isinstance(module, _DROPOUT_TYPES):
            if dropout_p is not None:
                module.p = float(dropout_p)
            module.train()
            dropouts.append((name, float(module.p)))
        elif isinstance(module, StochasticDepth):
            module.train()
            depth += 1
        elif isinstance(module, _BN_TYPES):
            bns += 1
            if batchnorm:
                module.train()
    return tuple(dropouts), depth, bns


def train_mode_copy(
    model: nn.Module, *, batchnorm: bool = False, dropout_p: float | None = None
) -> nn.Module:
    """A deep copy of `model` with dropout/stochastic depth (and, if asked, batch norm) in
    training behaviour and everything else in eval; `dropout_p` overrides every Dropout's p."""
    if dropout_p is not None and not 0.0 <= dropout_p < 1.0:
        raise UserError(f"dropout p must be in [0, 1), got {dropout_p}")
    clone = copy.deepcopy(model)
    _set_train_behaviour(clone, batchnorm=batchnorm, dropout_p=dropout_p)
    return clone


def train_vs_eval(
    engine: Engine,
    image: Image.Image | torch.Tensor,
    *,
    passes: int = 20,
    topk: int = 5,
    batchnorm: bool = False,
    dropout_p: float | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> TrainEvalResult:
    """`passes` stochastic forward passes (each a batch of one) of a train-behaviour copy,
    beside the eval answer; seeded, and torch's global RNG is left as it was."""
    if not 1 <= passes <= MAX_PASSES:
        raise UserError(f"passes must be between 1 and {MAX_PASSES}, got {passes}")
    x = engine.to_tensor(image).unsqueeze(0).to(engine.device)
    eval_probs = torch.softmax(engine.forward(x)[0], 0)
    top = eval_probs.topk(min(topk, eval_probs.numel())).indices.tolist()
    if dropout_p is not None and not 0.0 <= dropout_p < 1.0:
        raise UserError(f"dropout p must be in [0, 1), got {dropout_p}")
    model = copy.deepcopy(engine.model)
    dropouts, depth, bns = _set_train_behaviour(model, batchnorm=batchnorm, dropout_p=dropout_p)
    rows: list[np.ndarray] = []
    changed = 0
    stopped = False
    with seeded_rng(seed), torch.no_grad():
        while len(rows) < passes:
            if cancelled is not None and cancelled():
                stopped = True
                break
            # Dropout and stochastic depth draw per sample, so copies of the image in one
            # batch are independent passes; train-mode batch norm must see one image alone.
            n = 1 if batchnorm else min(PASS_BATCH, passes - len(rows))
            probs = torch.softmax(model(x.expand(n, -1, -1, -1)).float().cpu(), 1)
            for row in probs:
                rows.append(row[top].numpy())
                changed += int(int(row.argmax()) != top[0])
            if progress is not None:
                progress(len(rows), passes)
    table = np.stack(rows).astype(np.float32) if rows else np.zeros((0, len(top)), np.float32)
    classes = tuple(
        ClassSpread(
            index=c,
            label=engine.spec.categories[c],
            eval_probability=float(eval_probs[c]),
            mean=float(table[:, j].mean()) if len(rows) else float("nan"),
            std=float(table[:, j].std()) if len(rows) else float("nan"),
            low=float(table[:, j].min()) if len(rows) else float("nan"),
            high=float(table[:, j].max()) if len(rows) else float("nan"),
        )
        for j, c in enumerate(top)
    )
    return TrainEvalResult(
        classes, table, passes, len(rows), batchnorm, dropouts, depth, bns, changed, stopped
    )


@dataclass(frozen=True, eq=False)
class DropoutView:
    """One train-mode pass at a Dropout layer: which units were zeroed, how survivors scale."""

    layer: str
    p: float
    scale: float  # 1 / (1 − p)
    input: np.ndarray  # the layer's input, batch dimension removed, float32
    output: np.ndarray  # its output (train behaviour)
    kept: np.ndarray  # bool, same shape: the units dropout kept (scaled) rather than zeroed
    seed: int

    @property
    def zeroed_fraction(self) -> float:
        """The fraction of units zeroed (close to p for many units)."""
        return float(1.0 - self.kept.mean())


_VIEWABLE = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def dropout_layers(model: nn.Module) -> list[str]:
    """The names of the model's Dropout layers (not AlphaDropout), in module order."""
    return [n for n, m in model.named_modules() if isinstance(m, _VIEWABLE)]


def dropout_at(
    engine: Engine,
    image: Image.Image | torch.Tensor,
    layer: str,
    *,
    seed: int = 0,
    dropout_p: float | None = None,
) -> DropoutView:
    """One seeded train-mode pass of a copy, seen at Dropout layer `layer`.

    The mask is dropout's own: torch's RNG state is saved just before the layer runs and
    replayed on a tensor of ones, so units whose input was already 0 are classified too.
    """
    module = find_module(engine.model, layer)
    if not isinstance(module, _VIEWABLE):
        raise NotADropoutLayerError(f"{layer!r} is not a Dropout layer of this model")
    model = train_mode_copy(engine.model, dropout_p=dropout_p)
    target = find_module(model, layer)
    assert isinstance(target, _VIEWABLE)
    rate = float(target.p)
    x = engine.to_tensor(image).unsqueeze(0).to(engine.device)
    seen: dict[str, torch.Tensor] = {}

    def pre(_m: nn.Module, inputs: tuple) -> None:
        seen["state"] = torch.get_rng_state()
        seen["input"] = inputs[0].detach().clone()

    def post(_m: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        seen["output"] = output.detach().clone()

    handles = [target.register_forward_pre_hook(pre), target.register_forward_hook(post)]
    try:
        with seeded_rng(seed), torch.no_grad():
            model(x)
            after = torch.get_rng_state()
            torch.set_rng_state(seen["state"])
            ones = torch.ones_like(seen["input"])
            if isinstance(target, nn.Dropout1d | nn.Dropout2d | nn.Dropout3d):
                # Channel dropout: replay with the module itself (same RNG use).
                mask = target(ones) != 0
            else:
                mask = TF.dropout(ones, rate, training=True) != 0
            torch.set_rng_state(after)
    finally:
        for h in handles:
            h.remove()
    p = rate
    return DropoutView(
        layer=layer,
        p=p,
        scale=1.0 / (1.0 - p),
        input=seen["input"][0].float().cpu().numpy(),
        output=seen["output"][0].float().cpu().numpy(),
        kept=mask[0].cpu().numpy(),
        seed=seed,
    )


@dataclass(frozen=True, eq=False)
class BatchOfOne:
    """What batch norm in train mode does with a batch of one image, and why."""

    batchnorm1d_error: str  # torch's own error for BatchNorm1d on (1, C)
    layer: str | None  # the first BatchNorm2d of the model, if any
    eval_output_mean: np.ndarray | None  # per channel, running statistics (eval)
    train_output_mean: np.ndarray | None  # per channel, this image's own statistics (train)
    train_output_std: np.ndarray | None
    beta: np.ndarray | None
    gamma: np.ndarray | None
    eval_top1: str
    train_top1: str
    train_top1_probability: float
    eval_top1_probability: float
    explanation: str


EXPLANATION = (
    "In train mode batch norm normalises with the statistics of the current batch. With one "
    "value per channel (BatchNorm1d on a batch of one) the variance is undefined, so PyTorch "
    "refuses; with one image, BatchNorm2d uses that image's own per-channel mean and "
    "variance over its pixels, so every channel comes out with mean β and spread γ whatever "
    "the image holds: the contrast between images that the running statistics preserve is "
    "normalised away, and the answer changes (and the running statistics drift toward this "
    "one image). At inference always use eval(), which uses the running statistics."
)


def batch_of_one(engine: Engine, image: Image.Image | torch.Tensor) -> BatchOfOne:
    """Batch norm in train mode with a batch of one: BatchNorm1d's error, BatchNorm2d's
    per-image statistics at the first BatchNorm2d, and the whole model's changed answer."""
    bn1d = nn.BatchNorm1d(4).train()
    try:
        bn1d(torch.zeros(1, 4))
        error = ""
    except ValueError as exc:
        error = str(exc)
    x = engine.to_tensor(image).unsqueeze(0).to(engine.device)
    names = [n for n, m in engine.model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    layer = names[0] if names else None

    def run(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        seen: list[torch.Tensor] = []
        handle = None
        if layer is not None:
            target = find_module(model, layer)
            assert target is not None
            handle = target.register_forward_hook(
                lambda _m, _i, out: seen.append(out.detach().clone())
            )
        try:
            with torch.no_grad():
                probs = torch.softmax(model(x).float().cpu()[0], 0)
        finally:
            if handle is not None:
                handle.remove()
        return probs, (seen[0][0] if seen else None)

    eval_probs, eval_out = run(engine.model)
    model = copy.deepcopy(engine.model).eval()
    for m in model.modules():
        if isinstance(m, _BN_TYPES):
            m.train()
    train_probs, train_out = run(model)
    found = find_module(engine.model, layer) if layer is not None else None
    bn = found if isinstance(found, nn.BatchNorm2d) else None

    def per_channel(t: torch.Tensor | None, fn: Callable[[torch.Tensor], torch.Tensor]):
        return None if t is None else fn(t.float().cpu().flatten(1)).numpy()

    e1, t1 = int(eval_probs.argmax()), int(train_probs.argmax())
    return BatchOfOne(
        batchnorm1d_error=error,
        layer=layer,
        eval_output_mean=per_channel(eval_out, lambda v: v.mean(1)),
        train_output_mean=per_channel(train_out, lambda v: v.mean(1)),
        train_output_std=per_channel(train_out, lambda v: v.std(1, unbiased=False)),
        beta=None if bn is None or bn.bias is None else bn.bias.detach().float().cpu().numpy(),
        gamma=(
            None if bn is None or bn.weight is None else bn.weight.detach().float().cpu().numpy()
        ),
        eval_top1=engine.spec.categories[e1],
        train_top1=engine.spec.categories[t1],
        eval_top1_probability=float(eval_probs[e1]),
        train_top1_probability=float(train_probs[t1]),
        explanation=EXPLANATION,
    )

"""Pre-training vs fine-tuning: a new linear head on a frozen, pre-trained backbone.

The backbone is the engine's model up to its last linear layer, in eval mode and never
changed: each image's penultimate features (the input of that layer) are computed ONCE, in
batches. A new linear layer (classes × features) is then trained on those fixed features
with full-batch Adam and cross-entropy, which takes a fraction of a second per hundred
epochs on a CPU. A seeded, per-class hold-out split measures accuracy on images the head
never saw. The head saves as safetensors with its class names (cnnviz.core.zoo.head).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core.engine import Engine
from cnnviz.core.errors import UserError
from cnnviz.core.images import ImageLoadError, load_image
from cnnviz.core.rng import seeded_rng
from cnnviz.core.zoo.head import LinearHead, last_linear, save_head

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]
EpochCallback = Callable[[int, float, float], None]  # (epoch, loss, train accuracy)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MIN_CLASSES, MAX_CLASSES = 2, 100
MAX_EPOCHS = 10_000
FEATURE_BATCH = 16


class FineTuneError(UserError, ValueError):
    """A fine-tune set or setting that cannot be used; the message says why."""


@dataclass(frozen=True)
class ClassFolders:
    """A folder of class folders: class names (sorted) and each image's path and label."""

    root: str
    classes: tuple[str, ...]
    paths: tuple[str, ...]
    labels: tuple[int, ...]


def scan_class_folders(root: str | os.PathLike[str]) -> ClassFolders:
    """The images of `root`'s sub-folders, one class per sub-folder (its name)."""
    base = Path(root)
    if not base.is_dir():
        raise FineTuneError(f"{root}: not a folder (give a folder with one sub-folder per class)")
    classes: list[str] = []
    paths: list[str] = []
    labels: list[int] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            continue
        classes.append(folder.name)
        paths += [str(f) for f in files]
        labels += [len(classes) - 1] * len(files)
    if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
        raise FineTuneError(
            f"{root}: found {len(classes)} class folders with images; a fine-tune needs "
            f"{MIN_CLASSES} to {MAX_CLASSES}"
        )
    return ClassFolders(str(base), tuple(classes), tuple(paths), tuple(labels))


@dataclass(frozen=True, eq=False)
class Features:
    """Penultimate features of the images that could be read (batched, cancellable)."""

    values: np.ndarray  # (N, D) float32
    kept: tuple[int, ...]  # indices (into the input list) of the rows of `values`
    skipped: tuple[str, ...]  # "path: reason" for images that could not be read
    layer: str  # the linear layer whose input they are
    cancelled: bool = False


def extract_features(
    engine: Engine,
    images: Sequence[str | Image.Image],
    *,
    batch_size: int = FEATURE_BATCH,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> Features:
    """The input of the model's last linear layer for each image (eval mode, no grad)."""
    layer = last_linear(engine.model)
    module = dict(engine.model.named_modules())[layer]
    rows: list[torch.Tensor] = []
    kept: list[int] = []
    skipped: list[str] = []
    seen: list[torch.Tensor] = []

    def pre(_m: nn.Module, inputs: tuple) -> None:
        seen.append(inputs[0].detach().float().cpu().clone())

    handle = module.register_forward_pre_hook(pre)
    stopped = False
    try:
        for start in range(0, len(images), batch_size):
            if cancelled is not None and cancelled():
                stopped = True
                break
            batch, where = [], []
            for i in range(start, min(start + batch_size, len(images))):
                item = images[i]
                try:
                    pil = load_image(item) if isinstance(item, str) else item
                except ImageLoadError as exc:
                    skipped.append(str(exc))
                    continue
                batch.append(engine.to_tensor(pil))
                where.append(i)
            if batch:
                seen.clear()
                engine.forward(torch.stack(batch))
                rows.append(seen[-1].flatten(1))
                kept += where
            if progress is not None:
                progress(min(start + batch_size, len(images)), len(images))
    finally:
        handle.remove()
    values = torch.cat(rows).numpy() if rows else np.zeros((0, module.in_features), np.float32)
    return Features(values, tuple(kept), tuple(skipped), layer, stopped)


def holdout_split(labels: Sequence[int], fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of held-out items: per class round(n·fraction) of its items (at least
    one when fraction > 0 and the class has two or more), chosen with a seeded shuffle."""
    if not 0.0 <= fraction < 1.0:
        raise FineTuneError(f"--holdout must be in [0, 1), got {fraction}")
    labels_arr = np.asarray(labels)
    mask = np.zeros(len(labels_arr), dtype=bool)
    rng = np.random.default_rng(seed)
    for c in np.unique(labels_arr):
        idx = np.flatnonzero(labels_arr == c)
        n = round(len(idx) * fraction)
        if fraction > 0 and len(idx) >= 2:
            n = min(max(n, 1), len(idx) - 1)
        mask[rng.permutation(idx)[:n]] = True
    return mask


@dataclass(frozen=True, eq=False)
class FineTuneResult:
    """A trained head, its learning curve and its accuracy on seen and held-out images."""

    head: LinearHead
    losses: tuple[float, ...]  # per epoch, training cross-entropy
    train_accuracies: tuple[float, ...]  # per epoch
    train_accuracy: float
    heldout_accuracy: float | None  # None without held-out images
    heldout_count: int
    train_count: int
    heldout_probabilities: np.ndarray  # (held-out, classes) of the final head
    heldout_paths: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    cancelled: bool = False

    def as_dict(self, out: str | None = None) -> dict[str, object]:
        """What `cnnviz finetune --json` prints."""
        return {
            "classes": list(self.head.classes),
            "train_accuracy": self.train_accuracy,
            "heldout_accuracy": self.heldout_accuracy,
            "train_images": self.train_count,
            "heldout_images": self.heldout_count,
            "epochs": len(self.losses),
            "final_loss": self.losses[-1] if self.losses else None,
            "skipped": list(self.skipped),
            "cancelled": self.cancelled,
            "out": out,
        }


def train_head(
    features: np.ndarray,
    labels: Sequence[int],
    classes: Sequence[str],
    *,
    arch: str,
    layer: str,
    heldout: np.ndarray | None = None,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    cancelled: Cancelled | None = None,
    paths: Sequence[str] = (),
) -> FineTuneResult:
    """Train a linear head (full-batch Adam, cross-entropy) on fixed features."""
    if not 1 <= epochs <= MAX_EPOCHS:
        raise FineTuneError(f"--epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    held = np.zeros(len(y), bool) if heldout is None else np.asarray(heldout, bool)
    train = torch.from_numpy(~held)
    if not bool(train.any()):
        raise FineTuneError("no training images are left after the hold-out split")
    with seeded_rng(seed):
        head = nn.Linear(x.shape[1], len(classes))
    optimiser = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    losses: list[float] = []
    accs: list[float] = []
    stopped = False
    xt, yt = x[train], y[train]
    for epoch in range(epochs):
        if cancelled is not None and cancelled():
            stopped = True
            break
        optimiser.zero_grad()
        logits = head(xt)
        loss = nn.functional.cross_entropy(logits, yt)
        loss.backward()
        optimiser.step()
        acc = float((logits.argmax(1) == yt).float().mean())
        losses.append(float(loss.detach()))
        accs.append(acc)
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1], acc)
    with torch.no_grad():
        train_acc = float((head(xt).argmax(1) == yt).float().mean())
        held_t = torch.from_numpy(held)
        held_probs = torch.softmax(head(x[held_t]), 1) if bool(held_t.any()) else None
    held_acc = (
        None if held_probs is None else float((held_probs.argmax(1) == y[held_t]).float().mean())
    )
    result_head = LinearHead(
        arch,
        layer,
        tuple(classes),
        head.weight.detach().numpy().copy(),
        head.bias.detach().numpy().copy(),
    )
    return FineTuneResult(
        head=result_head,
        losses=tuple(losses),
        train_accuracies=tuple(accs),
        train_accuracy=train_acc,
        heldout_accuracy=held_acc,
        heldout_count=int(held.sum()),
        train_count=int((~held).sum()),
        heldout_probabilities=(
            np.zeros((0, len(classes)), np.float32) if held_probs is None else held_probs.numpy()
        ),
        heldout_paths=tuple(p for p, h in zip(paths, held, strict=False) if h),
        cancelled=stopped,
    )


def finetune(
    engine: Engine,
    root: str | os.PathLike[str],
    *,
    epochs: int = 200,
    holdout: float = 0.25,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
    cancelled: Cancelled | None = None,
) -> FineTuneResult:
    """Fine-tune a new head on the class folders of `root`; save it to `out` if given."""
    if engine.weights.untrained:
        raise FineTuneError(
            f"{engine.spec.name} has no trained weights here: a frozen random backbone has "
            "nothing pre-trained to fine-tune"
        )
    if not 1 <= epochs <= MAX_EPOCHS:
        raise FineTuneError(f"--epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    folders = scan_class_folders(root)
    mask = holdout_split(folders.labels, holdout, seed)
    feats = extract_features(engine, folders.paths, progress=progress, cancelled=cancelled)
    labels = [folders.labels[i] for i in feats.kept]
    paths = [folders.paths[i] for i in feats.kept]
    if feats.cancelled or len(set(labels)) < MIN_CLASSES:
        if feats.cancelled:
            empty = LinearHead(
                engine.spec.name, feats.layer, folders.classes, np.zeros((0, 0)), np.zeros(0)
            )
            return FineTuneResult(
                empty, (), (), 0.0, None, 0, 0, np.zeros((0, 0)), (), feats.skipped, cancelled=True
            )
        raise FineTuneError(f"{root}: fewer than {MIN_CLASSES} classes have readable images")
    result = train_head(
        feats.values,
        labels,
        folders.classes,
        arch=engine.spec.name,
        layer=feats.layer,
        heldout=mask[list(feats.kept)],
        epochs=epochs,
        seed=seed,
        on_epoch=on_epoch,
        cancelled=cancelled,
        paths=paths,
    )
    result = _with_skipped(result, feats.skipped)
    if out is not None and not result.cancelled:
        save_head(result.head, out)
    return result


def _with_skipped(result: FineTuneResult, skipped: tuple[str, ...]) -> FineTuneResult:
    from dataclasses import replace

    return replace(result, skipped=skipped)

#!/usr/bin/env python
"""Train the bundled LeNet-5 on scikit-learn's handwritten digits: offline, CPU, reproducible.

scikit-learn is a development-only dependency of this script (its wheel ships the 1797
8x8 digits); the app never imports it:

    pip install scikit-learn
    python scripts/train_lenet.py

Writes resources/weights/lenet5_digits.safetensors, resources/weights/lenet5_digits.json
and one held-out test digit per class as resources/samples/digits/digit_<k>.png.
The digits are inverted to dark ink on light paper when rendered (see cnnviz.core.zoo.models.lenet),
so the PNGs look like what a user would photograph, and the app's plain preprocessing applies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torchvision.transforms import v2

REPO = Path(__file__).resolve().parents[1]
# The script runs from a checkout, where cnnviz need not be installed.
sys.path.insert(0, str(REPO))
from cnnviz.core.zoo.models.lenet import MEAN, STD, lenet5, lenet_transforms  # noqa: E402

SEED = 20240607
TEST_SIZE = 360
EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 2e-3
# One intra-op thread: bitwise results do not depend on the core count, and two OpenMP threads
# on a busy 2-core machine spin-wait each other into 5-40x slower epochs.
THREADS = 1
TRAIN_SIZE_PX = 32  # pictures the model trains on
SAMPLE_SIZE_PX = 64  # exported PNGs, bigger so the app's Resize really resamples them


def render_digit(image8: np.ndarray, size: int) -> Image.Image:
    """Render an 8x8 sklearn digit (0..16, light ink) as a dark-on-paper RGB picture."""
    paper = np.round(255.0 - image8 * (255.0 / 16.0)).astype(np.uint8)
    small = Image.fromarray(paper, mode="L")
    return small.resize((size, size), Image.Resampling.BILINEAR).convert("RGB")


def augmentation() -> v2.Compose:
    """Return the small random affine used in training; white fill keeps the paper blank."""
    affine = v2.RandomAffine(
        degrees=10,
        translate=(0.1, 0.1),
        scale=(0.85, 1.1),
        shear=5,
        interpolation=v2.InterpolationMode.BILINEAR,
        fill=255,
    )
    return v2.Compose([affine, lenet_transforms()])


def seed_everything(seed: int, threads: int) -> torch.Generator:
    """Seed every RNG in play and switch torch to deterministic CPU execution."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    return torch.Generator().manual_seed(seed)


def pixel_stats(pictures: list[Image.Image]) -> tuple[float, float]:
    """Return mean and std of the gray values in [0, 1] over the pictures."""
    values = np.stack([np.asarray(p.convert("L"), dtype=np.float64) / 255.0 for p in pictures])
    return float(values.mean()), float(values.std())


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Return the share of correctly classified samples."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(
    pictures: list[Image.Image],
    labels: torch.Tensor,
    test: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    gen: torch.Generator,
) -> nn.Module:
    """Train LeNet-5 with fresh augmentation every epoch and report test accuracy as it goes."""
    model = lenet5(num_classes=10)
    opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    steps_per_epoch = -(-len(pictures) // BATCH_SIZE)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=LEARNING_RATE, total_steps=epochs * steps_per_epoch
    )
    aug = augmentation()
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, epochs + 1):
        x = torch.stack([aug(p) for p in pictures])
        order = torch.randperm(len(pictures), generator=gen)
        model.train()
        total = 0.0
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), labels[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if epoch % 5 == 0 or epoch == epochs:
            acc = accuracy(model, *test)
            print(f"epoch {epoch:3d}  loss {total / len(order):.4f}  test acc {acc:.4f}")
    return model.eval()


def export_digits(
    images8: np.ndarray, labels: np.ndarray, test_idx: np.ndarray, out_dir: Path
) -> list[dict]:
    """Save the first test-split digit of each class as digit_<k>.png; return what was saved."""
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for k in range(10):
        index = int(min(i for i in test_idx if labels[i] == k))
        path = out_dir / f"digit_{k}.png"
        render_digit(images8[index], SAMPLE_SIZE_PX).convert("L").save(path, optimize=True)
        saved.append({"file": f"digits/{path.name}", "sklearn_index": index, "label": k})
    return saved


def check_exports(model: nn.Module, out_dir: Path) -> int:
    """Classify the exported PNGs through Pillow + lenet_transforms, as the app would."""
    tf = lenet_transforms()
    correct = 0
    with torch.no_grad():
        for k in range(10):
            with Image.open(out_dir / f"digit_{k}.png") as im:
                pred = int(model(tf(im.convert("RGB")).unsqueeze(0)).argmax(1))
            correct += pred == k
            print(f"digit_{k}.png -> {pred}")
    return correct


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and write the weights, metadata and sample digits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", type=Path, default=REPO / "resources" / "weights")
    parser.add_argument("--samples-dir", type=Path, default=REPO / "resources" / "samples")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    gen = seed_everything(SEED, args.threads)
    digits = load_digits()
    images8, labels = digits.images, digits.target
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_SIZE, stratify=labels, random_state=SEED
    )
    train_pics = [render_digit(images8[i], TRAIN_SIZE_PX) for i in train_idx]
    mean, std = pixel_stats(train_pics)
    print(f"train {len(train_idx)}  test {len(test_idx)}  pixel mean {mean:.4f}  std {std:.4f}")
    if abs(mean - MEAN[0]) > 5e-4 or abs(std - STD[0]) > 5e-4:
        print(f"warning: lenet.MEAN/STD {MEAN[0]}/{STD[0]} differ from the data", file=sys.stderr)

    tf = lenet_transforms()
    x_test = torch.stack([tf(render_digit(images8[i], TRAIN_SIZE_PX)) for i in test_idx])
    y_test = torch.as_tensor(labels[test_idx], dtype=torch.long)
    y_train = torch.as_tensor(labels[train_idx], dtype=torch.long)
    model = train(train_pics, y_train, (x_test, y_test), args.epochs, gen)
    test_acc = accuracy(model, x_test, y_test)

    args.weights_dir.mkdir(parents=True, exist_ok=True)
    weights_path = args.weights_dir / "lenet5_digits.safetensors"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # One metadata key only: safetensors writes a map's keys in hash order, which varies per run.
    save_file(state, str(weights_path), metadata={"format": "pt"})
    weights_path.chmod(0o644)  # safetensors creates files 0600

    digits_dir = args.samples_dir / "digits"
    exported = export_digits(images8, labels, test_idx, digits_dir)
    export_correct = check_exports(model, digits_dir)
    elapsed = time.perf_counter() - started

    meta = {
        "architecture": "lenet5",
        "weights_file": weights_path.name,
        "sha256": sha256(weights_path),
        "num_classes": 10,
        "classes": [str(k) for k in range(10)],
        "dataset": "scikit-learn load_digits (UCI ML hand-written digits, 8x8, 1797 images)",
        "dataset_licence": "CC BY 4.0, E. Alpaydin & C. Kaynak, UCI Machine Learning Repository",
        "sklearn_version": __import__("sklearn").__version__,
        "torch_version": torch.__version__,
        "preprocessing": {
            "render": "8x8 inverted to dark ink on white, bilinear upscale to 32x32, RGB",
            "transforms": "Resize((32,32)), Grayscale(3), ToImage, ToDtype(float32), Normalize",
            "mean": list(MEAN),
            "std": list(STD),
            "measured_train_mean": round(mean, 6),
            "measured_train_std": round(std, 6),
        },
        "augmentation": "RandomAffine(degrees=10, translate=0.1, scale=0.85-1.1, shear=5)",
        "split": {
            "method": "stratified train_test_split",
            "random_state": SEED,
            "train": len(train_idx),
            "test": len(test_idx),
        },
        "epochs": args.epochs,
        "batch_size": BATCH_SIZE,
        "optimizer": f"AdamW lr={LEARNING_RATE} wd=1e-4, OneCycleLR",
        "seed": SEED,
        "torch_threads": args.threads,
        "test_accuracy": round(test_acc, 6),
        "exported_test_digits": exported,
        "exported_digits_correct": export_correct,
    }
    meta_path = args.weights_dir / "lenet5_digits.json"
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"test accuracy {test_acc:.4f}  exported digits correct {export_correct}/10")
    print(f"wrote {weights_path} ({weights_path.stat().st_size} bytes), {meta_path}")
    print(f"sha256 {meta['sha256']}  in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

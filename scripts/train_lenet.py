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

Bit for bit: before torch is imported, the script pins every code path that PyTorch would
otherwise choose per CPU, so that the same versions give the same bytes on any x86-64 CPU
(see PINNED_ENV and pin_cpu_paths): ATen's portable kernels instead of the AVX2/AVX-512 ones
picked at run time (ATEN_CPU_CAPABILITY=default), oneDNN and NNPACK off (both JIT or pick
kernels per instruction set), MKL's conditional numerical reproducibility
(MKL_CBWR=COMPATIBLE,STRICT: one SSE2 code path on Intel and AMD alike), and one thread.
What is reproducible: the sha256 printed at the end (and recorded in lenet5_digits.json),
given torch, torchvision, Pillow, numpy and scikit-learn at the versions in that file and
glibc's libm (expf/logf), on x86-64 Linux. Another architecture (Arm), another library
version or another libm may give other bytes (the accuracy stays the same to within a digit).
Check a machine without touching the repo:

    python scripts/train_lenet.py --verify
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

# Read by ATen, MKL and OpenMP when torch loads: they must be set before `import torch`.
PINNED_ENV = {
    # ATen picks AVX2 or AVX-512 kernels per CPU; their vector widths change the order of
    # float additions (sums, softmax, the optimizer's updates), hence the last bits.
    "ATEN_CPU_CAPABILITY": "default",
    # MKL's sgemm (Linear layers, and convolutions once oneDNN is off) has per-CPU kernels
    # too; CNR "COMPATIBLE" runs one code path on every x86-64 CPU, STRICT whatever the
    # alignment of the buffers.
    "MKL_CBWR": "COMPATIBLE,STRICT",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
os.environ.update(PINNED_ENV)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from torch import nn  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# The script runs from a checkout, where cnnviz need not be installed.
sys.path.insert(0, str(REPO))
from cnnviz.core.zoo.models.lenet import MEAN, STD, lenet5, lenet_transforms  # noqa: E402

SEED = 20240607
TEST_SIZE = 360
EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 2e-3
# One intra-op thread: bitwise results do not depend on the core count (ATen splits reductions
# per thread), and two OpenMP threads on a busy 2-core machine spin-wait each other.
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


def pin_cpu_paths() -> str:
    """Switch off the CPU-dependent backends; return ATen's CPU capability (must be DEFAULT)."""
    # oneDNN JIT-compiles its convolutions for the CPU's instruction set; NNPACK picks AVX2
    # or portable kernels. Without both, convolutions are im2col + MKL sgemm (pinned above).
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "DEFAULT":
        raise SystemExit(
            f"ATen runs its {capability} kernels, not the portable ones: torch was imported "
            "before ATEN_CPU_CAPABILITY=default was set"
        )
    return capability


def cpu_description() -> str:
    """The CPU's model name and widest vector extension, for the log."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
            if flags and model != "unknown CPU":
                break
    except OSError:
        pass
    widest = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), "?")
    return f"{model} (widest vector extension: {widest})"


def seed_everything(seed: int) -> torch.Generator:
    """Seed every RNG in play."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
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


def build(weights_dir: Path, samples_dir: Path, epochs: int, capability: str) -> dict:
    """Train, evaluate and write the weights, metadata and sample digits; return the metadata."""
    started = time.perf_counter()
    gen = seed_everything(SEED)
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
    model = train(train_pics, y_train, (x_test, y_test), epochs, gen)
    test_acc = accuracy(model, x_test, y_test)

    weights_dir.mkdir(parents=True, exist_ok=True)
    weights_path = weights_dir / "lenet5_digits.safetensors"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # One metadata key only: safetensors writes a map's keys in hash order, which varies per run.
    save_file(state, str(weights_path), metadata={"format": "pt"})
    weights_path.chmod(0o644)  # safetensors creates files 0600

    digits_dir = samples_dir / "digits"
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
        "torchvision_version": __import__("torchvision").__version__,
        "pillow_version": __import__("PIL").__version__,
        "numpy_version": np.__version__,
        "cpu_paths": {
            "aten_cpu_capability": capability,
            **{k: v for k, v in PINNED_ENV.items() if k.startswith(("ATEN", "MKL_CBWR"))},
            "onednn": False,
            "nnpack": False,
        },
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
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "optimizer": f"AdamW lr={LEARNING_RATE} wd=1e-4, OneCycleLR",
        "seed": SEED,
        "torch_threads": THREADS,
        "test_accuracy": round(test_acc, 6),
        "exported_test_digits": exported,
        "exported_digits_correct": export_correct,
    }
    meta_path = weights_dir / "lenet5_digits.json"
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"test accuracy {test_acc:.4f}  exported digits correct {export_correct}/10")
    print(f"wrote {weights_path} ({weights_path.stat().st_size} bytes), {meta_path}")
    print(f"trained in {elapsed:.1f} s")
    return meta


def main(argv: list[str] | None = None) -> int:
    """Train (or, with --verify, retrain in a temporary folder and compare); print the sha256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", type=Path, default=REPO / "resources" / "weights")
    parser.add_argument("--samples-dir", type=Path, default=REPO / "resources" / "samples")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="retrain in a temporary folder and compare the sha256 with "
        "resources/weights/lenet5_digits.json; writes nothing in the repo; exit 1 if different",
    )
    args = parser.parse_args(argv)

    capability = pin_cpu_paths()
    print(f"CPU: {cpu_description()}")
    print(
        f"ATen CPU capability used: {capability}; MKL_CBWR={os.environ['MKL_CBWR']}; "
        f"oneDNN off, NNPACK off; {torch.get_num_threads()} thread; torch {torch.__version__}"
    )
    if not args.verify:
        meta = build(args.weights_dir, args.samples_dir, args.epochs, capability)
        print(f"sha256 {meta['sha256']}")
        return 0
    expected = json.loads((REPO / "resources" / "weights" / "lenet5_digits.json").read_text())
    with tempfile.TemporaryDirectory(prefix="lenet-verify-") as tmp:
        meta = build(Path(tmp) / "weights", Path(tmp) / "samples", args.epochs, capability)
    same = meta["sha256"] == expected["sha256"]
    print(f"sha256 {meta['sha256']}")
    print(f"committed {expected['sha256']}: {'IDENTICAL' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

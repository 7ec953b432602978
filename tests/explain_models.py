"""Shared models for the explain tests: a torchvision ResNet-18 with seeded random weights."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

RESNET18_SEED = 11


def seeded_resnet18_file(folder: Path) -> Path:
    """A state dict of torchvision's ResNet-18 initialised under torch.manual_seed(11)."""
    path = folder / "resnet18_seeded.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RESNET18_SEED)
        torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def resnet18_engine(folder: Path):
    """An Engine over the seeded ResNet-18 on the CPU."""
    from cnnviz.core.engine import Engine

    return Engine.load("resnet18", weights_file=seeded_resnet18_file(folder), device="cpu")

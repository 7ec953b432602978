"""LeNet-5 for 3x32x32 inputs, its preprocessing, and loading of its safetensors weights.

The bundled weights (``resources/weights/lenet5_digits.safetensors``) were trained by
``scripts/train_lenet.py`` on scikit-learn's 8x8 handwritten digits, upscaled to 32x32.

Ink polarity: the sklearn digits are light ink on a dark background, but a user's photo or
scan of a digit is dark ink on light paper. The training script therefore inverts the digits
once, when it renders them as images, and trains on dark-ink-on-paper pictures. The
preprocessing below does *not* invert, so an ordinary photo of a handwritten digit goes
through the same plain pipeline as any other image.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms import v2

__all__ = [
    "DIGIT_CLASSES",
    "INPUT_SIZE",
    "MEAN",
    "STD",
    "LeNet5",
    "lenet5",
    "lenet_transforms",
]

INPUT_SIZE = 32
# Mean and std of the training pictures (sklearn digits rendered dark-on-paper at 32x32,
# pixel values in [0, 1]); scripts/train_lenet.py recomputes and records them.
MEAN: tuple[float, float, float] = (0.6950, 0.6950, 0.6950)
STD: tuple[float, float, float] = (0.3235, 0.3235, 0.3235)
DIGIT_CLASSES: tuple[str, ...] = tuple(str(k) for k in range(10))


class LeNet5(nn.Module):
    """Classic LeNet-5 (ReLU, max pooling) for 3x32x32 images."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits for a batch of shape (N, 3, 32, 32)."""
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def lenet5(*, num_classes: int = 10) -> LeNet5:
    """Build an untrained LeNet-5."""
    return LeNet5(num_classes=num_classes)


def lenet_transforms() -> v2.Compose:
    """Return the preprocessing for LeNet-5: PIL image or uint8 tensor in, normalized tensor out."""
    return v2.Compose(
        [
            v2.Resize((INPUT_SIZE, INPUT_SIZE)),
            v2.Grayscale(num_output_channels=3),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(MEAN), std=list(STD)),
        ]
    )

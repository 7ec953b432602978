"""Running a model on an image: preprocessing, forward with capture, top-k, CPU fallback."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms.v2 import functional as F

from cnnviz.core import device as devices
from cnnviz.core.inspect.forward import LayerForward, OnCaptured, forward_capturing
from cnnviz.core.zoo.head import load_with_head
from cnnviz.core.zoo.registry import ArchSpec, get_arch
from cnnviz.core.zoo.weights import CancelCheck, ProgressCallback, WeightsInfo, load_model

T = TypeVar("T")


@dataclass(frozen=True)
class ClassScore:
    rank: int
    index: int
    label: str
    probability: float

    def as_dict(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "index": self.index,
            "label": self.label,
            "probability": self.probability,
        }


@dataclass(frozen=True)
class Prediction:
    """One forward pass, as plain data that can cross threads."""

    top: tuple[ClassScore, ...]
    probabilities: np.ndarray  # (num_classes,) float32
    model_input: np.ndarray  # (H, W, 3) uint8: what the model sees, de-normalised
    forward_ms: float
    device: str
    notice: str | None = None  # e.g. "CUDA ran out of memory; now running on the CPU"
    non_finite: bool = False  # NaN or infinite logits: probabilities and ranking mean nothing


def as_pil(image: Image.Image | torch.Tensor) -> Image.Image:
    """A uint8 (3, H, W) image tensor as the PIL image with the same pixels (lossless)."""
    if isinstance(image, torch.Tensor):
        plain = image.as_subclass(torch.Tensor)
        if plain.dtype != torch.uint8 or plain.shape[0] != 3:
            return F.to_pil_image(plain)
        # What F.to_pil_image does for uint8 RGB, without its second copy of the pixels.
        return Image.fromarray(plain.permute(1, 2, 0).contiguous().numpy())
    return image


class Engine:
    """A loaded model on a device. Not thread-safe: one worker owns it."""

    def __init__(
        self, spec: ArchSpec, model: nn.Module, weights: WeightsInfo, device: torch.device
    ) -> None:
        self.spec = spec
        self.weights = weights
        self.model = model.eval().to(device)
        self.device = device
        self.preprocess = spec.preprocess()
        mean, std = spec.normalisation()
        self._mean = torch.tensor(mean).view(3, 1, 1)
        self._std = torch.tensor(std).view(3, 1, 1)
        self._pending_notice: str | None = None
        self._warm_up()

    def _warm_up(self) -> None:
        # The first forward pays one-off costs (kernel selection, allocator growth); pay them
        # here so that the forward time reported for the user's image is the steady one.
        size = self.spec.input_size
        self.forward(torch.zeros(1, 3, size, size))

    @classmethod
    def load(
        cls,
        arch: str | ArchSpec,
        *,
        weights_file: str | os.PathLike[str] | None = None,
        device: str | torch.device | None = None,
        allow_download: bool = False,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> Engine:
        spec = get_arch(arch) if isinstance(arch, str) else arch
        # A fine-tuned head file (cnnviz.core.zoo.head): the usual backbone, the head's classes.
        with_head = (
            load_with_head(
                spec,
                weights_file,
                allow_download=allow_download,
                progress=progress,
                cancelled=cancelled,
            )
            if weights_file is not None
            else None
        )
        if with_head is not None:
            spec, model, info = with_head
        else:
            model, info = load_model(
                spec,
                weights_file=weights_file,
                allow_download=allow_download,
                progress=progress,
                cancelled=cancelled,
            )
        target = device if isinstance(device, torch.device) else devices.resolve_device(device)
        return cls(spec, model, info, target)

    def to_tensor(self, image: Image.Image | torch.Tensor) -> torch.Tensor:
        """The normalised (3, H, W) float tensor the model is fed for `image`.

        The one preprocessing path: a uint8 (3, H, W) tensor (what the augmentation lab
        makes) becomes a PIL image first, losslessly, so that an augmented image and the
        same pixels read from a file get the very same resize (PIL and tensor resizing
        differ by up to ~0.4 percentage points in the top-1).
        """
        return self.preprocess(as_pil(image))

    def denormalise(self, tensor: torch.Tensor) -> np.ndarray:
        """A preprocessed tensor back to a displayable (H, W, 3) uint8 image."""
        # One fused multiply-add in 0..255 (a sixth of the time of four whole-image passes,
        # on the live path of every update).
        pixels = torch.addcmul(self._mean * 255, tensor.detach().cpu(), self._std * 255)
        return pixels.clamp_(0, 255).round_().byte().permute(1, 2, 0).numpy()

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits for a batch, moving to the CPU (and saying so) if the accelerator runs out."""
        return self._on_device(lambda: self.model(batch.to(self.device)).float().cpu())

    def _on_device(self, run: Callable[[], T]) -> T:
        """`run()` without autograd; on an accelerator's out-of-memory, again on the CPU."""
        try:
            with torch.inference_mode():
                return run()
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if self.device.type == "cpu" or not devices.is_out_of_memory(exc):
                raise
            failed = devices.device_label(self.device)
            self._move_to_cpu()
            self._pending_notice = f"{failed} ran out of memory; now running on the CPU"
            with torch.inference_mode():
                return run()

    def _move_to_cpu(self) -> None:
        self.model.to("cpu")
        self.device = torch.device("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def predict(self, image: Image.Image | torch.Tensor, *, topk: int = 5) -> Prediction:
        """Classify one image (PIL, or a uint8 (3, H, W) tensor)."""
        return self.predict_capturing(image, None, topk=topk)[0]

    def predict_capturing(
        self,
        image: Image.Image | torch.Tensor,
        layer: str | None,
        *,
        topk: int = 5,
        conv_input: bool = False,
        on_captured: OnCaptured | None = None,
        tensor: torch.Tensor | None = None,
    ) -> tuple[Prediction, LayerForward | None]:
        """Classify one image and, in the same forward pass, capture `layer` (if any);
        `on_captured` hears the layer's output as soon as the layer has run. `tensor` is
        the image already through `to_tensor`, if it was (the session prepares it ahead)."""
        x = tensor if tensor is not None else self.to_tensor(image)

        def run() -> tuple[torch.Tensor, LayerForward | None]:
            batch = x.unsqueeze(0).to(self.device)
            if layer is None:
                return self.model(batch), None
            seen = forward_capturing(
                self.model, batch, layer, conv_input=conv_input, on_captured=on_captured
            )
            return seen.logits, seen

        start = time.perf_counter()
        logits, seen = self._on_device(run)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed_ms = (time.perf_counter() - start) * 1000
        probabilities = torch.softmax(logits[0].float().cpu(), dim=0)
        notice, self._pending_notice = self._pending_notice, None
        prediction = Prediction(
            top=self.top_classes(probabilities, topk),
            probabilities=probabilities.numpy(),
            model_input=self.denormalise(x),
            forward_ms=elapsed_ms,
            device=str(self.device),
            notice=notice,
            non_finite=not bool(torch.isfinite(logits).all()),
        )
        return prediction, seen

    def top_classes(self, probabilities: torch.Tensor, k: int) -> tuple[ClassScore, ...]:
        values, indices = probabilities.topk(min(k, probabilities.numel()))
        return tuple(
            ClassScore(rank + 1, int(i), self.spec.categories[int(i)], float(p))
            for rank, (p, i) in enumerate(zip(values, indices, strict=True))
        )

    def classify(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Class probabilities (N, classes) for uint8 (3, H, W) images, as one batch."""
        batch = torch.stack([self.to_tensor(img) for img in images])
        return torch.softmax(self.forward(batch), dim=1)

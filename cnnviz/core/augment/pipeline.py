"""Apply an augmentation spec to an image, reproducibly, with torchvision v2.

The lab augments the ORIGINAL image (uint8, C×H×W); the model's own preprocessing runs
afterwards, in the engine.

Reproducibility: v2 transforms draw from torch's global RNG. Each transform runs inside
``seeded_rng`` (cnnviz.core.rng) seeded from (seed, transform name, how many transforms of
that name came before it), so toggling one transform never changes another's draw, and the
global RNG is left as it was. The GUI's "fixed" mode keeps the seed; "re-roll" picks a
new one. Python's ``random`` is seeded (and restored) as well, though torchvision
0.29's v2 transforms do not use it. The generators are process-wide; seeded_rng's lock
lets one thread at a time use them.

Text specs, the catalogue and :class:`SpecError` live in ``spec`` and ``catalog``, which need
no torch (the Qt panels use them).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import torch
from PIL import Image as PILImage
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from cnnviz.core.augment.catalog import TORCHVISION_DEFAULTS, catalog_entry
from cnnviz.core.augment.spec import AugmentSpec, SpecError, TransformCall, format_call
from cnnviz.core.images import MAX_ASPECT_RATIO
from cnnviz.core.rng import seeded_rng

ImageInput = PILImage.Image | torch.Tensor

# Run on float images in [0, 1] so that their parameters mean the same on every
# torchvision version (0.20's GaussianNoise rejected uint8).
_FLOAT_ONLY = frozenset({"GaussianNoise"})


@dataclass(frozen=True)
class AugmentOutcome:
    """The augmented image (uint8 C×H×W), MixUp/CutMix label weights, and what ran."""

    image: torch.Tensor
    mix_weights: tuple[float, float] | None
    steps: tuple[str, ...]


def transform_seed(seed: int, name: str, occurrence: int) -> int:
    """The RNG seed of the `occurrence`-th (0-based) transform called `name` in a pipeline."""
    digest = hashlib.sha256(f"{int(seed)}/{name}/{occurrence}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def to_uint8_image(image: ImageInput) -> tv_tensors.Image:
    """A uint8 C×H×W tv_tensors.Image from a PIL image (as RGB) or an image tensor."""
    if isinstance(image, PILImage.Image):
        return tv_tensors.Image(F.pil_to_tensor(image.convert("RGB")))
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected a PIL image or a tensor, got {type(image).__name__}")
    tensor = image.as_subclass(torch.Tensor)
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3:
        raise ValueError(f"expected a C×H×W image tensor, got shape {tuple(tensor.shape)}")
    if tensor.is_floating_point():
        tensor = F.to_dtype(tensor, torch.uint8, scale=True)
    elif tensor.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 or float image tensor, got {tensor.dtype}")
    return tv_tensors.Image(tensor)


def _to_uint8(x: torch.Tensor, scale: float) -> tv_tensors.Image:
    return tv_tensors.Image((x * scale).round_().clamp_(0, 255).to(torch.uint8))


def _via_float(transform: v2.Transform, x: tv_tensors.Image) -> tv_tensors.Image:
    out = transform(F.to_dtype(x, torch.float32, scale=True))
    return _to_uint8(out.as_subclass(torch.Tensor), 255.0)


def _mix(
    transform: v2.Transform, x: tv_tensors.Image, second: ImageInput
) -> tuple[tv_tensors.Image, float]:
    """Mix x with `second` (stretched to x's size); return the image and x's weight."""
    other = to_uint8_image(second)
    if other.shape[0] != x.shape[0]:
        other = F.rgb_to_grayscale(other) if x.shape[0] == 1 else other.expand(3, -1, -1)
    other = F.resize(other, list(x.shape[-2:]), antialias=True)
    # float64 on the 0..255 scale: MixUp's blend then rounds like round(λ·A + (1-λ)·B).
    batch = tv_tensors.Image(torch.stack([x, other]).to(torch.float64))
    # One-hot float64 labels keep the soft label exactly λ (index labels become float32).
    images, labels = transform(batch, torch.eye(2, dtype=torch.float64))
    return _to_uint8(images[0].as_subclass(torch.Tensor), 1.0), float(labels[0, 0])


_ENUMS = {"interpolation": v2.InterpolationMode, "policy": v2.AutoAugmentPolicy}
# Geometric transforms that resample through torchvision's grid sampler.
_GRID_SAMPLED = frozenset({"RandomRotation", "RandomAffine", "RandomPerspective"})


def _kwargs_for_torchvision(call: TransformCall, *, fast: bool = False) -> dict[str, object]:
    kwargs: dict[str, object] = {}
    for key, value in call.kwargs:
        if key in _ENUMS and isinstance(value, str):
            value = _ENUMS[key](value)
        elif isinstance(value, tuple):
            value = list(value)
        kwargs[key] = value
    if catalog_entry(call.name).needs_second_image:
        kwargs["num_classes"] = 2  # the lab mixes two images labelled 0 and 1
    if fast and _black_fill_is_free(call):
        # With nearest sampling a zero fill is what the grid sampler leaves outside the
        # image anyway; torchvision's fill path adds a mask channel and a blend that cost
        # 4x the rotation itself (7.7 vs 1.8 ms on a 451x300 photo), for identical pixels.
        kwargs["fill"] = None
    return kwargs


def _black_fill_is_free(call: TransformCall) -> bool:
    defaults = TORCHVISION_DEFAULTS.get(call.name, {})
    if "fill" not in defaults or "interpolation" not in defaults:
        return False
    fill = call.get("fill", defaults["fill"])
    interpolation = call.get("interpolation", defaults["interpolation"])
    black = fill == 0 or (isinstance(fill, tuple | list) and all(v == 0 for v in fill))
    return black and interpolation == "nearest" and call.name in _GRID_SAMPLED


def build_transform(call: TransformCall, *, fast: bool = False) -> v2.Transform:
    """The torchvision v2 transform object for a (validated) call; `fast`: one that gives
    the same pixels by a cheaper route where there is one (see _black_fill_is_free)."""
    try:
        return getattr(v2, call.name)(**_kwargs_for_torchvision(call, fast=fast))
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{call.name}: torchvision rejects {format_call(call)}: {exc}") from exc


class AugmentPipeline:
    """A spec turned into torchvision transforms, applied one by one with their own seeds."""

    def __init__(self, spec: AugmentSpec) -> None:
        self.spec = spec
        # What the spec says, as torchvision objects (shown, copied as Python) ...
        self.transforms: tuple[v2.Transform, ...] = tuple(build_transform(c) for c in spec.calls)
        # ... and what runs: the same pixels, by the cheaper route where there is one.
        self._runners = tuple(
            build_transform(c, fast=True) if _black_fill_is_free(c) else t
            for c, t in zip(spec.calls, self.transforms, strict=True)
        )

    def seeds(self, seed: int) -> tuple[int, ...]:
        """Each transform's RNG seed for pipeline seed `seed`."""
        counts: Counter[str] = Counter()
        out = []
        for call in self.spec.calls:
            out.append(transform_seed(seed, call.name, counts[call.name]))
            counts[call.name] += 1
        return tuple(out)

    def compose(self) -> v2.Compose | v2.Identity:
        """The per-call transforms as one torchvision object (unseeded; for display)."""
        return v2.Compose(list(self.transforms)) if self.transforms else v2.Identity()

    def apply(
        self, image: ImageInput, *, seed: int, mix_with: ImageInput | None = None
    ) -> AugmentOutcome:
        """Augment `image`; the same seed gives a bit-identical result."""
        x = to_uint8_image(image)
        steps: list[str] = []
        weights: tuple[float, float] | None = None
        for call, transform, t_seed in zip(
            self.spec.calls, self._runners, self.seeds(seed), strict=True
        ):
            mixing = catalog_entry(call.name).needs_second_image
            if mixing and mix_with is None:
                raise SpecError(f"{call.name} needs a second image")
            second = mix_with if mixing else None
            step = format_call(call)
            try:
                with seeded_rng(t_seed, accelerators=False):
                    if second is not None:
                        x, lam = _mix(transform, x, second)
                        wa, wb = weights or (1.0, 0.0)
                        weights = (lam * wa, lam * wb + (1.0 - lam))
                        step += f": {lam:.3f} × image + {1.0 - lam:.3f} × second image"
                    elif call.name in _FLOAT_ONLY:
                        x = _via_float(transform, x)
                        step += " (run on float 0..1, rounded back to uint8)"
                    else:
                        x = transform(x)
            except (TypeError, ValueError, RuntimeError, IndexError) as exc:
                raise SpecError(f"{call.name} failed on this image: {exc}") from exc
            steps.append(step)
        _check_aspect(x.shape[-1], x.shape[-2])
        if x.shape[0] == 1:
            x = tv_tensors.Image(x.expand(3, -1, -1))
            steps.append("grey image repeated to 3 channels for the model")
        return AugmentOutcome(x.as_subclass(torch.Tensor).contiguous(), weights, tuple(steps))


def _check_aspect(width: int, height: int) -> None:
    # The same bound as for loaded images (see cnnviz.core.images): the model's resize would
    # blow up e.g. Resize(size=[1, 4096]) to a 256 x 1-million-pixel tensor, 3 GB.
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise SpecError(
            f"the augmented image is {width}x{height}, too elongated for a model (at most "
            f"{MAX_ASPECT_RATIO}:1)"
        )


def build_pipeline(spec: AugmentSpec) -> AugmentPipeline:
    """The torchvision transforms of a parsed spec."""
    return AugmentPipeline(spec)

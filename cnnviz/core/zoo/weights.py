"""Where a model's weights come from: a file, the bundle, torch's cache, a download, or nowhere."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch
from torch import nn

from cnnviz.core.errors import UserError
from cnnviz.core.files import clip, path_problem
from cnnviz.core.zoo.file_checks import pickled_code, safetensors_problem
from cnnviz.core.zoo.models import efficientnet_lite
from cnnviz.core.zoo.registry import ArchSpec

UNTRAINED = "random initialisation: UNTRAINED, its predictions mean nothing"

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total or 0 if unknown)
CancelCheck = Callable[[], bool]


class Source(str, Enum):
    FILE = "file"
    BUNDLED = "bundled"
    CACHE = "cache"
    DOWNLOAD = "download"
    RANDOM = "random"


class WeightsError(UserError):
    """Weights that cannot be used: unreadable, unsafe, or not fitting the architecture."""


class DownloadCancelled(WeightsError):
    """The user cancelled a download."""


@dataclass(frozen=True)
class WeightsInfo:
    """What a model's weights are, for every view and report to show."""

    source: Source
    path: str | None
    sha256: str | None
    description: str
    untrained_reason: str = ""  # random weights: why none were found (a failed download…)

    @property
    def untrained(self) -> bool:
        return self.source is Source.RANDOM

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source.value,
            "path": self.path,
            "sha256": self.sha256,
            "untrained": self.untrained,
        }


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors or torch file, never running code stored in it.

    Any malformed file gives one short WeightsError: the safetensors header is checked before
    the library reads it, and torch's weights-only unpickler (which runs no code) may raise
    anything on a damaged pickle, so all of it is caught.
    """
    path = Path(path)
    problem = path_problem(path, "a weights file")
    if problem == "file not found":
        raise WeightsError(f"weights file not found: {path}")
    if problem is not None:
        raise WeightsError(f"{path.name}: {problem}")
    if path.suffix == ".safetensors":
        loaded: object = _load_safetensors(path)
    else:
        loaded = _load_torch(path)
    return _unwrap_state_dict(loaded, path.name)


def _load_torch(path: Path) -> object:
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 4": noise about a file that is refused anyway.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        code = pickled_code(path)
        if code:
            raise WeightsError(
                f"{path.name}: refused: the file holds code (it would call {', '.join(code)}), "
                "not just tensors; cnnviz never runs code from a weights file"
            ) from exc
        raise WeightsError(
            f"{path.name}: not a readable weights file (corrupt data or an unsupported pickle)"
        ) from exc
    except MemoryError as exc:
        raise WeightsError(f"{path.name}: not a readable weights file (too large)") from exc
    except Exception as exc:  # noqa: BLE001 - a damaged pickle can raise any type; none ran code
        detail = f"{type(exc).__name__}: {clip(_short(exc), 100)}"
        raise WeightsError(f"{path.name}: not a readable weights file ({detail})") from exc


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    problem = safetensors_problem(path)
    if problem is not None:
        raise WeightsError(f"{path.name}: {problem}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError, TypeError) as exc:
        raise WeightsError(
            f"{path.name}: damaged safetensors file ({clip(_short(exc), 120)})"
        ) from exc


def _unwrap_state_dict(loaded: object, label: str) -> dict[str, torch.Tensor]:
    # Training scripts often save {"state_dict": ...} or {"model": ...}; accept those too.
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in loaded and isinstance(loaded[key], Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise WeightsError(
            f"{label}: does not contain a state dict (a mapping of names to tensors)"
        )
    empty = [str(k) for k, v in loaded.items() if v.is_meta]
    if empty:
        raise WeightsError(
            f"{label}: {len(empty)} of {len(loaded)} tensors hold no values (meta tensors, "
            f"e.g. {_names(empty)}): a model's outline, not trained weights"
        )
    return {str(k).removeprefix("module."): v for k, v in loaded.items()}


def _names(keys: list[str], n: int = 3) -> str:
    return ", ".join(clip(k) for k in keys[:n])


def apply_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], label: str) -> None:
    """Load strictly, turning PyTorch's long error into one message naming the mismatch."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {_names(unexpected)})")
    if wrong_shape:
        shown = "; ".join(clip(w, 80) for w in wrong_shape[:2])
        problems.append(f"{len(wrong_shape)} of the wrong shape (e.g. {shown})")
    if problems:
        raise WeightsError(
            f"{label} does not fit {type(model).__name__}: " + ", ".join(problems) + " keys"
        )
    try:
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:  # e.g. sparse or complex tensors
        raise WeightsError(
            f"{label}: cannot be loaded into {type(model).__name__} ({clip(_short(exc), 120)})"
        ) from exc


class NonFiniteWeightsError(WeightsError):
    """Weights holding NaN or infinite values, where a result built on them would be noise."""


def non_finite_tensors(model: nn.Module) -> list[str]:
    """Names of the model's floating-point parameters and buffers with a NaN or infinity."""
    with torch.no_grad():
        return [
            name
            for name, t in (*model.named_parameters(), *model.named_buffers())
            if t.is_floating_point() and not bool(torch.isfinite(t).all())
        ]


def require_finite_weights(model: nn.Module, label: str) -> None:
    """NonFiniteWeightsError naming a few tensors if any weight is NaN or infinite."""
    bad = non_finite_tensors(model)
    if bad:
        raise NonFiniteWeightsError(
            f"{label}: {len(bad)} weight tensors hold NaN or infinite values (e.g. "
            f"{_names(bad)}); what the model computes from them means nothing"
        )


def _fit_file_to_arch(spec: ArchSpec, state_dict: dict[str, torch.Tensor]) -> dict:
    """Adapt well-known checkpoint layouts to the model cnnviz builds for `spec`."""
    # The EfficientNet-Lite packages use the original port's key names; map them onto ours.
    if spec.name.startswith("efficientnet_lite") and "_conv_stem.weight" in state_dict:
        return efficientnet_lite.convert_reference_state_dict(state_dict, spec.name[-5:])
    # torchvision's GoogLeNet/Inception checkpoints include the training-only auxiliary heads.
    if spec.name in ("googlenet", "inception_v3"):
        aux = ("aux1.", "aux2.", "AuxLogits.")
        return {k: v for k, v in state_dict.items() if not k.startswith(aux)}
    return state_dict


def cache_dir() -> Path:
    """torch.hub's checkpoint folder, where torchvision keeps downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(spec: ArchSpec) -> Path | None:
    if spec.torchvision_weights is None:
        return None
    path = cache_dir() / os.path.basename(spec.torchvision_weights.url)
    return path if path.is_file() else None


def availability(spec: ArchSpec) -> str:
    """'offline', 'cached', 'downloadable' or 'untrained': what a user gets without a file."""
    if spec.bundled_path() is not None:
        return "offline"
    if cached_path(spec) is not None:
        return "cached"
    if spec.torchvision_weights is not None:
        return "downloadable"
    return "untrained"


def download(
    url: str,
    dest: Path,
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    timeout: float = 10.0,
) -> Path:
    """Fetch `url` to `dest` in chunks, reporting progress, checking torchvision's hash prefix."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - weights URLs only
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(
            f"cannot download {os.path.basename(url)} (offline? {_short(reason)})"
        ) from exc
    total = int(response.headers.get("Content-Length") or 0)
    digest = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with response, os.fdopen(fd, "wb") as out:
            while chunk := response.read(1 << 16):
                if cancelled is not None and cancelled():
                    raise DownloadCancelled(f"download of {dest.name} cancelled")
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if total and done != total:
            raise WeightsError(f"download of {dest.name} stopped early ({done} of {total} bytes)")
        expected = re.search(r"-([a-f0-9]{6,})\.", dest.name)
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise WeightsError(f"download of {dest.name} is corrupt (sha256 does not match)")
        os.replace(tmp_name, dest)
    except (OSError, TimeoutError) as exc:
        raise WeightsError(f"download of {dest.name} failed: {_short(exc)}") from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return dest


def load_model(
    spec: ArchSpec,
    *,
    weights_file: str | os.PathLike[str] | None = None,
    allow_download: bool = False,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> tuple[nn.Module, WeightsInfo]:
    """Build `spec` in eval mode with the first weights available, in the documented order.

    Order: an explicit file, the bundled offline weights, torchvision's local cache, a
    download (only if allowed), and finally random initialisation, flagged as untrained.
    A failed or cancelled download also ends in random weights, with the reason attached.
    """
    model = spec.builder()
    bundled = spec.bundled_path() if weights_file is None else None
    cached = cached_path(spec) if weights_file is None and bundled is None else None
    online = spec.torchvision_weights if allow_download else None
    if weights_file is not None:
        path = Path(weights_file)
        state = _fit_file_to_arch(spec, read_state_dict(path))
        apply_state_dict(model, state, path.name)
        info = WeightsInfo(Source.FILE, str(path), sha256_of(path), f"weights file {path.name}")
    elif bundled is not None:
        apply_state_dict(model, _fit_file_to_arch(spec, read_state_dict(bundled)), bundled.name)
        info = WeightsInfo(
            Source.BUNDLED, str(bundled), sha256_of(bundled), spec.bundled_description
        )
    elif cached is not None or online is not None:
        source = Source.CACHE
        if cached is None:
            assert online is not None
            dest = cache_dir() / os.path.basename(online.url)
            try:
                cached = download(online.url, dest, progress=progress, cancelled=cancelled)
            except WeightsError as exc:
                model.eval()
                return model, WeightsInfo(
                    Source.RANDOM, None, None, f"{exc}; {UNTRAINED}", untrained_reason=str(exc)
                )
            source = Source.DOWNLOAD
        apply_state_dict(model, read_state_dict(cached), cached.name)
        info = WeightsInfo(
            source, str(cached), sha256_of(cached), f"torchvision {spec.torchvision_weights}"
        )
    else:
        info = WeightsInfo(Source.RANDOM, None, None, UNTRAINED)
    model.eval()
    return model, info


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

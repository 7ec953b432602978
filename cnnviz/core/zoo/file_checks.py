"""Looking into a weights file without loading it: a safetensors header, a pickle's imports."""

from __future__ import annotations

import json
import math
import pickletools
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import torch

from cnnviz.core.files import clip

# Real headers are a few hundred bytes per tensor; a larger one is damage or an attack.
MAX_SAFETENSORS_HEADER = 16 << 20
_SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
# A torch zip checkpoint, or a bare pickle (protocol 2 and later start with PROTO).
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a well-formed safetensors file fitting its size, or None if it is.

    The format: an 8-byte little-endian header length, a JSON header mapping each tensor to
    its dtype, shape and [begin, end) byte offsets into the data that follows.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little")
        fits = len(head) == 8 and length <= size - 8
        # Checked after the length: a real header length can begin with the same bytes.
        if not fits and head.startswith(_PICKLE_MAGIC):
            return (
                "a PyTorch pickle checkpoint, not a safetensors file; name it .pth to load it "
                "as a checkpoint"
            )
        if size == 0:
            return "empty file, not a safetensors file"
        if len(head) < 8:
            return f"not a safetensors file (only {size} bytes)"
        if not fits:
            return (
                f"damaged safetensors file (its header length, {length} bytes, runs past the "
                f"end of the {size}-byte file)"
            )
        if length > MAX_SAFETENSORS_HEADER:
            return (
                f"damaged safetensors file (a header of {length} bytes; at most "
                f"{MAX_SAFETENSORS_HEADER} are plausible)"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError
        return "damaged safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return "damaged safetensors file (its header is not a JSON object)"
    data_size = size - 8 - length
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        problem = _tensor_entry_problem(entry, data_size)
        if problem is not None:
            return f"damaged safetensors file (tensor {clip(key)}: {problem})"
    return None


def _tensor_entry_problem(entry: object, data_size: int) -> str | None:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        return "not a {dtype, shape, data_offsets} entry"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _SAFETENSORS_ITEMSIZE:
        return f"unknown dtype {clip(repr(dtype), 20)}"
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        return f"bad shape {clip(repr(shape), 40)}"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        return f"bad data offsets {clip(repr(offsets), 40)}"
    begin, end = offsets
    if not begin <= end <= data_size:
        return f"data offsets [{begin}, {end}] outside the {data_size} bytes of data"
    expected = math.prod(shape) * _SAFETENSORS_ITEMSIZE[dtype]
    if end - begin != expected:
        return f"shape {clip(repr(shape), 40)} of {dtype} needs {expected} bytes, not {end - begin}"
    return None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def pickled_code(path: Path, *, limit: int = 3) -> list[str]:
    """The globals a torch checkpoint's pickle imports beyond torch's safe tensor types.

    Read with pickletools, which only lists opcodes: nothing is imported or run. Empty when
    the pickle imports nothing else (or cannot be read at all).
    """
    found: list[str] = []
    try:
        for name in _pickle_globals(_pickle_bytes(path)):
            if name not in _safe_globals() and name not in found:
                found.append(name)
                if len(found) == limit:
                    break
    except Exception:  # noqa: BLE001 - the rest is too broken to list; keep what was found
        pass
    return [clip(name) for name in found]


def _pickle_bytes(path: Path, max_bytes: int = 64 << 20) -> bytes:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if not names:
                return b""
            with archive.open(names[0]) as member:
                return member.read(max_bytes)
    with open(path, "rb") as f:
        return f.read(max_bytes)


def _pickle_globals(data: bytes) -> Iterator[str]:
    """'module.name' of every GLOBAL/INST/STACK_GLOBAL in a pickle, in order."""
    memo: dict[int, object] = {}
    recent: list[object] = []  # the values pushed last, for STACK_GLOBAL
    for opcode, arg, _pos in pickletools.genops(data):
        if opcode.name in ("GLOBAL", "INST"):
            module, _, name = str(arg).partition(" ")
            yield f"{module}.{name}"
        elif opcode.name == "STACK_GLOBAL" and len(recent) >= 2:
            yield f"{recent[-2]}.{recent[-1]}"
        elif opcode.name == "MEMOIZE" and recent:
            memo[len(memo)] = recent[-1]
        elif opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and recent and isinstance(arg, int):
            memo[arg] = recent[-1]
        elif opcode.name in ("GET", "BINGET", "LONG_BINGET") and isinstance(arg, int):
            recent.append(memo.get(arg))
        elif isinstance(arg, str):
            recent.append(arg)
        elif opcode.name not in ("FRAME", "PROTO"):
            recent.append(None)
        del recent[:-2]


@cache
def _safe_globals() -> frozenset[str]:
    """What torch's weights-only unpickler accepts: tensors, storages, dtypes, OrderedDict."""
    try:
        from torch import _weights_only_unpickler as unpickler

        names = set(unpickler._get_allowed_globals())
    except (ImportError, AttributeError):  # a private helper: fall back to the bare minimum
        names = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2"}
    for obj in torch.serialization.get_safe_globals():
        obj = obj[0] if isinstance(obj, tuple) else obj
        names.add(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}")
    return frozenset(names)

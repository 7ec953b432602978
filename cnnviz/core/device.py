"""Which device to run on: CUDA, then Apple MPS, else the CPU."""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from cnnviz.core.errors import UserError


class DeviceError(UserError, ValueError):
    """A device name that is unknown or not available on this machine."""


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # what torch.device takes: "cuda:0", "mps", "cpu"
    label: str  # what a person reads: "CUDA 0: NVIDIA H100", "Apple MPS", "CPU"


def available_devices() -> list[DeviceInfo]:
    """Every device this machine can run on, best first."""
    devices = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            devices.append(DeviceInfo(f"cuda:{i}", f"CUDA {i}: {torch.cuda.get_device_name(i)}"))
    if torch.backends.mps.is_available():
        devices.append(DeviceInfo("mps", "Apple MPS"))
    devices.append(DeviceInfo("cpu", "CPU"))
    return devices


def default_device() -> torch.device:
    return torch.device(available_devices()[0].name)


def resolve_device(name: str | None) -> torch.device:
    """`name` ("cpu", "cuda", "cuda:1", "mps") as an available torch.device; None means best."""
    if name is None or name == "auto":
        return default_device()
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {name!r} (use cpu, cuda or mps)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"there is no CUDA device {device.index}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("Apple MPS was requested but is not available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r} (use cpu, cuda or mps)")
    if device.type in ("cpu", "mps") and device.index not in (None, 0):
        # torch.device("cpu:5") is accepted by torch and silently means the one CPU device.
        which = "CPU" if device.type == "cpu" else "Apple MPS"
        raise DeviceError(f"there is no {which} device {device.index} (use {device.type})")
    return device


def device_label(device: torch.device) -> str:
    for info in available_devices():
        if torch.device(info.name) == device or (
            device.type == "cuda" and device.index is None and info.name == "cuda:0"
        ):
            return info.label
    return str(device)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an accelerator running out of memory (CUDA or MPS)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@contextmanager
def intra_op_threads(count: int | None) -> Iterator[None]:
    """Run torch's CPU kernels on `count` threads inside the block (None: leave as is).

    The window's worker runs short jobs (one image) on one thread. Measured on this
    project's 2-core CPU with Lite0: alone, a forward takes 15.5 ms on two threads and 21 ms
    on one; but two threads spin while they wait for each other, and any other busy thread
    (the GUI thread drawing, the helper that draws the layer) doubles a two-thread forward.
    In the real window, one thread gives 25-29 updates a second, two threads 20-22.
    """
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep the memory a forward pass frees for the next one (Linux; elsewhere a
    no-op). Returns whether the setting took.

    glibc returns freed blocks to the system at once above a threshold that it adapts on
    the main thread's heap only: on any other thread (the window's worker, the helper that
    draws) every forward pass of Lite0 faulted in about 6,900 fresh pages, 11 ms of kernel
    time that made a forward there 34 ms against 22 ms on the main thread (measured
    interleaved on this project's 2-core CPU). Blocks up to 32 MiB now come from the heap and
    up to 256 MiB of free heap stays mapped: no page faults, the same 22 ms on every thread.
    Larger blocks (a batch's activations) are still mapped and returned one by one.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 * 2**20) and mallopt(_M_TRIM_THRESHOLD, 256 * 2**20))

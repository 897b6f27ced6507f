"""Which device a run trains on, and how many CPU threads torch may use."""
from __future__ import annotations

import os

import torch

from .config import ConfigError

_AVAILABLE = {
    "cpu": lambda: True,
    "cuda": torch.cuda.is_available,
    "mps": lambda: torch.backends.mps.is_available(),
}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; a named device must be present."""
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if _AVAILABLE[d]()))
    if name not in _AVAILABLE:
        raise ConfigError("device", f"{name!r} is not one of auto, {', '.join(_AVAILABLE)}")
    if not _AVAILABLE[name]():
        present = ", ".join(d for d, available in _AVAILABLE.items() if available())
        raise ConfigError("device", f"{name} is not available on this machine; available: auto, {present}")
    return torch.device(name)


def available_devices() -> list[str]:
    """The choices a page offers: auto, then every device present here."""
    return ["auto", *(d for d, available in _AVAILABLE.items() if available())]


def configure_threads() -> int:
    """Leave one core to the web server (and the OS): on 2 cores, training gets 1 thread.

    An explicit OMP_NUM_THREADS wins.
    """
    if "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores - 1))
    return torch.get_num_threads()

"""Where to run, how to seed, and how to record the machine a result came from.

Every notebook opens with the same set-up cell::

    seed_everything(0)
    device = pick_device()            # cuda > mps > cpu, or $ACAI_REPRO_DEVICE
    environment = describe_environment(device)

The random-number state of every global generator (Python, NumPy, torch CPU and CUDA) can be captured with
:func:`get_rng_states` and put back with :func:`set_rng_states`; the trainer stores it in each checkpoint so that a
resumed run draws exactly the numbers an uninterrupted one would.
"""

from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch

DEVICE_ENV_VAR = "ACAI_REPRO_DEVICE"  # overrides pick_device("auto"), e.g. ACAI_REPRO_DEVICE=cpu on a GPU machine
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def _available() -> dict[str, bool]:
    return {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}


def pick_device(preference: str = "auto") -> torch.device:
    """Return the torch device to train on.

    ``"auto"`` takes the first available of cuda, mps, cpu, unless the environment variable ``ACAI_REPRO_DEVICE``
    names a device, which then wins. An explicit choice must be one of :data:`DEVICE_CHOICES` and available here.
    """
    source = f"pick_device({preference!r})"
    if preference == "auto" and os.environ.get(DEVICE_ENV_VAR):
        preference = os.environ[DEVICE_ENV_VAR]
        source = f"environment variable {DEVICE_ENV_VAR}={preference!r}"
    available = _available()
    if preference == "auto":
        return torch.device(next(kind for kind, ok in available.items() if ok))
    kind, colon, index = preference.partition(":")
    if kind not in available or (colon and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"{source}: unknown device; choose one of {', '.join(DEVICE_CHOICES)}")
    if not available[kind]:
        usable = ", ".join(k for k, ok in available.items() if ok)
        raise ValueError(f"{source}: {kind} is not available on this machine; available: auto, {usable}")
    if colon and int(index) >= torch.cuda.device_count():
        raise ValueError(f"{source}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    return torch.device(preference)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (``torch.manual_seed`` seeds CUDA too)."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_rng_states() -> dict[str, object]:
    """Capture the state of every global random generator as plain Python values and CPU tensors.

    NumPy's key is stored as a list of ints rather than an array, so that ``torch.load(weights_only=True)``
    accepts a checkpoint holding it.
    """
    name, key, position, has_gauss, cached_gaussian = np.random.get_state()
    states: dict[str, object] = {
        "python": random.getstate(),
        "numpy": (name, key.tolist(), position, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, object]) -> None:
    """Restore what :func:`get_rng_states` captured (the CUDA part only where CUDA is available now)."""
    random.setstate(states["python"])
    name, key, position, has_gauss, cached_gaussian = states["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def describe_environment(device: torch.device) -> dict[str, object]:
    """The facts a timing or a result depends on, with the same keys on every machine."""
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = platform.processor() or platform.machine()
    return {
        "device": str(device),
        "device_name": device_name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,  # None for a CPU build of torch
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),  # threads torch uses for CPU operations
    }

"""Device and precision choice: cuda > mps > cpu; bf16 autocast on CUDA by default, optional on CPU."""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = ("auto", "fp32", "bf16")


DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(requested: str) -> torch.device | None:
    """The device ``requested`` names (None for "auto"), or a ValueError naming ``--device`` and the choices.
    Cheap and side-effect free: run settings call it before any data is built."""
    if requested == "auto":
        return None
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ValueError(f"--device {requested}: not a device bertlab can train on; use auto, cpu, cuda, cuda:N "
                         f"or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {requested} was asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                     and torch.backends.mps.is_available()):
        raise ValueError(f"--device {requested} was asked for, but torch sees no Apple GPU (MPS); use --device cpu "
                         f"or auto")
    return device


def pick_device(requested: str = "auto") -> torch.device:
    device = check_device(requested)
    if device is not None:
        return device
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" means bf16 on CUDA GPUs that support it, fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return precision


def autocast(device: torch.device, precision: str):
    """bf16 autocast (matmuls in bf16, reductions in fp32), or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(device: torch.device, precision: str) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{device.type} ({torch.get_num_threads()} threads)"
    return f"device: {name}, precision: {precision}"

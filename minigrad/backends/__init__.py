"""Backend lookup: a device name -> its backend (an implementation of contract.Backend)."""
from __future__ import annotations

import importlib
import os

DEVICES = ("cpu", "cuda")


def check_device(device) -> str:
    """Normalise a device name ('cpu', 'cuda', 'cuda:0') or raise ValueError."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    name = device.split(":")[0].lower()
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {DEVICES}")
    return name


def default_device() -> str:
    """The MINIGRAD_DEVICE environment variable, else 'cpu'."""
    return check_device(os.environ.get("MINIGRAD_DEVICE", "cpu") or "cpu")


def get_backend(device: str):
    """The backend for `device`; 'cuda' raises one clear error if unusable."""
    name = check_device(device)
    if name == "cpu":
        from .cpu import BACKEND
        return BACKEND
    return importlib.import_module(".cuda", __name__).load()

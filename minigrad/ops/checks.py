"""Input checks shared by the kernel-backed ops: done before any kernel runs."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_tensor

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def float_tensor(x, name: str, arg: str = "input") -> Tensor:
    """x as a Tensor of float32 or float64 (what the kernels are compiled for)."""
    x = as_tensor(x)
    if x.dtype not in FLOATS:
        raise TypeError(f"{name}: expected a float32 or float64 {arg}, got dtype {x.dtype}")
    return x


def axis_index(axis, ndim: int, name: str) -> int:
    """A valid axis of an ndim-D tensor (negative counts from the end), as an index."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: `axis` must be an int, got {axis!r}")
    if ndim == 0:
        raise ValueError(f"{name}: expected a tensor of rank >= 1, got a 0-d tensor")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor of rank {ndim} "
                         f"(expected -{ndim} <= axis < {ndim})")
    return int(axis) % ndim

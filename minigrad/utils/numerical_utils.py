"""Keras's `to_categorical` and `normalize`, on NumPy arrays."""
from __future__ import annotations

import numpy as np


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """Class ids -> one-hot rows (float64, as Keras's NumPy path); a trailing axis of
    size 1 is dropped first. `num_classes` defaults to max(x) + 1."""
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if x.dtype.kind == "f" and not np.all(np.isfinite(x) & (np.mod(x, 1) == 0)):
        raise ValueError("to_categorical: `x` must hold integer class ids, got fractional, "
                         "NaN or infinite values")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical: `x` must hold integer class ids, got dtype {x.dtype}")
    x = x.astype(np.int64)
    shape = x.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical: class ids must be >= 0, got {x.min()}")
    if not num_classes:
        num_classes = int(x.max()) + 1 if x.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or \
            num_classes < 0:
        raise ValueError(f"to_categorical: `num_classes` must be a positive int, got "
                         f"{num_classes!r}")
    if x.size and x.max() >= num_classes:
        raise ValueError(f"to_categorical: class id {x.max()} is out of range for "
                         f"num_classes={num_classes}")
    out = np.zeros((x.shape[0], num_classes))
    out[np.arange(x.shape[0]), x] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis: int | None = -1, order: int = 2) -> np.ndarray:
    """x divided by its `order`-norm along `axis` (zero norms left as 1)."""
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, -1 if axis is None else axis)

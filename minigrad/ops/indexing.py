"""`Tensor.__getitem__`: NumPy's indexing, differentiable, on every backend.

Built from ops that already have their gradients and their CPU and CUDA kernels,
so no new kernel: a run of step-1 slices is one crop (gradient: a pad); an integer
drops its axis after a crop to one element; a strided slice, a 1-D integer array
a boolean mask on one axis, or an empty slice is a gather of rows (the embedding op: gradient
added back per row in a fixed order) with that axis moved to the front. None
inserts an axis, `...` stands for the axes not named. Two array indices in one
key (NumPy's joint advanced indexing) are refused with a TypeError.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .embedding import embedding
from .reshaping import crop


def getitem(x: Tensor, key) -> Tensor:
    """x[key] for ints, slices, None, Ellipsis and at most one 1-D integer or
    boolean array (NumPy's semantics; negative indices count from the end)."""
    key = _expand(key if isinstance(key, tuple) else (key,), x)
    widths, gathers, out_shape, arrays = [], [], [], 0
    for axis, (k, n) in enumerate(zip([k for k in key if k is not None], x.shape)):
        if isinstance(k, (int, np.integer)):
            i = _in_range(int(k), n, axis, x.shape)
            widths.append((i, n - i - 1))
        elif isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step == 1 and stop > start:
                widths.append((start, n - max(stop, start)))
            else:
                widths.append((0, 0))
                gathers.append((axis, np.arange(start, stop, step)))
        else:
            arrays += 1
            if arrays > 1:
                raise TypeError("Tensor indexing: at most one integer-array or boolean index "
                                "per key (NumPy's joint advanced indexing is not supported)")
            widths.append((0, 0))
            gathers.append((axis, _index_array(k, n, axis, x.shape)))
    y = crop(x, widths) if any(w != (0, 0) for w in widths) else x
    for axis, idx in gathers:
        y = _gather(y, axis, idx)
    # the output shape: ints drop their axis, None adds one
    axis = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        if not isinstance(k, (int, np.integer)):
            out_shape.append(y.shape[axis])
        axis += 1
    return y.reshape(tuple(out_shape)) if tuple(out_shape) != y.shape else y


def _expand(key: tuple, x: Tensor) -> tuple:
    """key with `...` replaced by full slices and missing trailing axes added."""
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("Tensor indexing: an index can only have a single ellipsis ('...')")
    named = sum(k is not None and k is not Ellipsis for k in key)
    if named > x.ndim:
        raise IndexError(f"Tensor indexing: too many indices for a tensor of shape {x.shape}: "
                         f"{named} were indexed")
    for k in key:
        if not (k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice, list,
                                                             np.ndarray, Tensor))) \
                or isinstance(k, bool):
            raise TypeError(f"Tensor indexing: expected ints, slices, None, Ellipsis or an "
                            f"integer/boolean array, got {type(k).__name__} ({k!r})")
    fill = (slice(None),) * (x.ndim - named)
    for i, k in enumerate(key):
        if k is Ellipsis:
            return key[:i] + fill + key[i + 1:]
    return key + fill


def _in_range(i: int, n: int, axis: int, shape: tuple) -> int:
    if not -n <= i < n:
        raise IndexError(f"Tensor indexing: index {i} is out of bounds for axis {axis} with "
                         f"size {n} (shape {shape})")
    return i % n


def _index_array(k, n: int, axis: int, shape: tuple) -> np.ndarray:
    """An integer or boolean array index as non-negative int64 positions."""
    a = k.numpy() if isinstance(k, Tensor) else np.asarray(k)
    if a.dtype == bool:
        if a.shape != (n,):
            raise IndexError(f"Tensor indexing: a boolean index for axis {axis} must have "
                             f"shape ({n},), got {a.shape}")
        return np.flatnonzero(a)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise TypeError(f"Tensor indexing: an array index must be 1-D integers or booleans, "
                        f"got shape {a.shape} and dtype {a.dtype}")
    a = a.astype(np.int64)
    bad = a[(a < -n) | (a >= n)]
    if bad.size:
        raise IndexError(f"Tensor indexing: index {int(bad[0])} is out of bounds for axis "
                         f"{axis} with size {n} (shape {shape})")
    return a % n


def _gather(x: Tensor, axis: int, idx: np.ndarray) -> Tensor:
    """x's rows idx along `axis`: that axis moved first, flattened rows, the gather."""
    order = (axis,) + tuple(a for a in range(x.ndim) if a != axis)
    front = x.transpose(order) if axis else x
    rest = front.shape[1:]
    rows = embedding(idx, front.reshape((front.shape[0], int(np.prod(rest, dtype=np.int64)))),
                     name="Tensor indexing")
    y = rows.reshape((len(idx),) + rest)
    return y.transpose(tuple(np.argsort(order))) if axis else y


Tensor.__getitem__ = getitem

"""Checks and conversions of the arguments Tensor takes: its data and dtype, reshape's
dims and reductions' axes. Clear TypeErrors and ValueErrors, as torch's and NumPy's."""
from __future__ import annotations

import numbers

import numpy as np


def _float_dtype(dtype, what: str) -> np.dtype:
    """dtype as np.float32 or np.float64, or a TypeError naming `what`."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{what} must be float32 or float64, got "
                        f"{repr(dtype) if dt is None else dt.name}")
    return dt


def _host_copy(data, dtype) -> np.ndarray:
    """A C-ordered NumPy copy of `data` in the dtype the Tensor docstring describes."""
    probe = np.asarray(data) if isinstance(data, (np.ndarray, np.generic)) else None
    if probe is None:
        try:
            probe = np.asarray(data)
        except ValueError as e:  # ragged lists
            raise ValueError(f"Tensor: data must be a rectangular (nested) list or array: "
                             f"{e}") from None
    kind = probe.dtype.kind
    if kind == "c":
        raise TypeError(f"Tensor: complex data ({probe.dtype}) is not supported; minigrad "
                        f"computes in float32 and float64")
    if kind not in "biuf":
        shown = "None" if data is None else probe.dtype
        raise TypeError(f"Tensor: data must be numbers, a (nested) list of numbers or a "
                        f"numeric array, got {shown}")
    if dtype is None:
        if kind == "f" and probe.dtype not in (np.float32, np.float64):
            raise TypeError(f"Tensor: {probe.dtype} data is not supported (minigrad computes "
                            f"in float32 and float64); pass dtype='float32' to convert it")
        python_data = not isinstance(data, (np.ndarray, np.generic))
        dtype = probe.dtype if kind == "f" and not python_data else np.float32
    return np.array(probe, dtype=dtype, order="C", copy=True)


def _shape_arg(shape) -> tuple:
    """reshape's dims: ints (NumPy ints too) >= -1, like torch.reshape."""
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"reshape: dims must be ints, got {s!r} in {tuple(shape)}")
        if s < -1:
            raise ValueError(f"reshape: invalid dim {s} in {tuple(shape)}")
    return tuple(int(s) for s in shape)


def _is_int(a) -> bool:
    return isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))


def _axes(axis, ndim: int, op: str = "reduction") -> tuple:
    """axis (None, an int or a tuple/list of ints, NumPy ints too) -> sorted axes in
    [0, ndim); anything else is a clear error, as torch's and NumPy's."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if _is_int(axis) else tuple(axis) if isinstance(axis, (tuple, list)) else None
    if axes is None or not all(_is_int(a) for a in axes):
        raise TypeError(f"{op}: `axis` must be None, an int or a tuple of ints, got {axis!r}")
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of rank {ndim}")
    axes = tuple(sorted(int(a) % ndim for a in axes))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: `axis` {axis!r} names an axis more than once")
    return axes

"""What fit/evaluate/predict accept, checked once and converted once (not per batch):
x as one array, or a list/dict of arrays for a model with several inputs; y the
targets of the model's single output; batch_size, epochs and verbose."""
from __future__ import annotations

import numpy as np

from .. import tree
from ..layers.shapes import fmt
from ..tensor import Tensor


def split_inputs(model, x, where: str) -> list:
    """x as a list with one entry per model input (in `model.inputs` order)."""
    specs = model._input_specs()
    if isinstance(x, dict):
        keys = model._input_keys()
        if keys and all(k in x for k in keys):
            return [x[k] for k in keys]
        if len(specs) > 1:
            raise ValueError(f"{where}: model {model.name!r} has inputs {keys}; the dict `x` "
                             f"lacks {[k for k in keys if k not in x]}")
        return [x]  # refused below as not numeric
    if len(specs) > 1:
        if not isinstance(x, (list, tuple)) or len(x) != len(specs):
            got = f"a list of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
            raise ValueError(f"{where}: model {model.name!r} has {len(specs)} inputs "
                             f"{model._input_keys()}: give `x` as a list of {len(specs)} arrays "
                             f"or a dict, got {got}")
        return list(x)
    return [x]


def check_x(model, x, where: str) -> list:
    """The model's inputs as contiguous arrays of each input's dtype, checked:
    numeric, real, non-empty, finite, of the input's shape, one length."""
    if x is None:
        raise ValueError(f"{where}: `x` is required")
    specs = model._input_specs()
    arrays = [_check_array(value, spec, where, model.name, len(specs) > 1)
              for value, spec in zip(split_inputs(model, x, where), specs)]
    if len({len(a) for a in arrays}) > 1:
        raise ValueError(f"{where}: the input arrays must have the same number of samples, "
                         f"got {[len(a) for a in arrays]}")
    return arrays


def _check_array(x, spec: tuple, where: str, model_name: str, named: bool) -> np.ndarray:
    shape, dtype, name = spec
    label = f"`x[{name!r}]`" if named else "`x`"
    x = x.numpy() if isinstance(x, Tensor) else x
    try:
        arr = np.asarray(x)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{where}: {label} must be a rectangular numeric array ({e})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{where}: {label} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{where}: {label} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0 or len(arr) == 0:
        raise ValueError(f"{where}: {label} is empty (shape {arr.shape})")
    if shape is not None:
        want = tuple(shape[1:])
        if arr.ndim != len(shape) or any(w is not None and w != g
                                         for w, g in zip(want, arr.shape[1:])):
            target = f"input {name!r}" if named else "inputs"
            raise ValueError(f"{where}: model {model_name!r} expects {target} of shape "
                             f"{fmt((None,) + want)}, got {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, caught next
        arr = arr.astype(dtype, copy=False)  # one pass over the data, not per batch
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: {label} contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def check_y(model, y, n: int, where: str) -> np.ndarray:
    """The targets of a single-output model, checked against the loss and `n` samples."""
    if y is None:
        raise ValueError(f"{where}: `y` (the targets) is required")
    if isinstance(y, (dict, list, tuple)) and any(
            isinstance(v, (np.ndarray, Tensor)) for v in tree.flatten(y)):
        raise ValueError(f"{where}: `y` must be one array; models with several outputs need "
                         f"a loss per output, which compile() does not take yet")
    y = np.asarray(y.numpy() if isinstance(y, Tensor) else y)
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"{where}: x and y must have the same number of samples, got "
                         f"{n} and {len(y) if y.ndim else 'a scalar'}")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise ValueError(f"{where}: `y` contains NaN or infinite values")
    return y


def check_batch_size(batch_size) -> int:
    if batch_size is None:
        return 32  # Keras's default
    return check_int(batch_size, "batch_size", 1)


def check_int(value, arg: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{arg}` must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)

"""Argument checks shared by ops and layers: one message style everywhere."""
from __future__ import annotations

import numbers


MAX_INT = 2**31 - 1  # sizes and strides stay far from the kernels' int64 overflow


def pair(value, arg: str, owner: str, minimum: int = 1) -> tuple:
    """An int or a pair of ints -> (a, b), each in [minimum, MAX_INT], else a clear error."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and
            all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        raise TypeError(f"{owner}: `{arg}` must be an int or a tuple of 2 ints, got {value!r}")
    if min(value) < minimum:
        raise ValueError(f"{owner}: `{arg}` must be >= {minimum}, got {tuple(value)}")
    if max(value) > MAX_INT:
        raise ValueError(f"{owner}: `{arg}` must be <= {MAX_INT}, got {tuple(value)}")
    return int(value[0]), int(value[1])


def padding_mode(value, owner: str) -> str:
    if not isinstance(value, str) or value.lower() not in ("valid", "same"):
        raise ValueError(f"{owner}: `padding` must be 'valid' or 'same', got {value!r}")
    return value.lower()


def same_or_valid(n: int, k: int, stride: int, dilation: int, padding: str) -> tuple:
    """(output size, pad before, pad after) along one axis, as TensorFlow computes it.

    valid: floor((n - d*(k-1) - 1) / s) + 1, no padding.
    same:  ceil(n / s), the total padding split with the extra pixel after.
    An unknown size (None, a symbolic input's free axis) stays unknown.
    """
    if n is None:
        return None, None, None
    k_eff = dilation * (k - 1) + 1
    if padding == "valid":
        return (n - k_eff) // stride + 1, 0, 0
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return out, total // 2, total - total // 2

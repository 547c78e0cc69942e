"""Gradient checking against central finite differences, like torch.autograd.gradcheck."""
from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import numpy as np

from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic gradient of an input differs from the numerical one."""


def gradcheck(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Compare autograd's gradient of `fn(*inputs)` with central differences.

    `inputs` is a tuple of float64 Tensors; those with `requires_grad=True`
    are checked. The output may be any shape: the check is on the gradient of
    sum(output * r) for a fixed random r, so every output element counts.
    Returns True, or raises GradcheckError naming the input and its worst
    element (returns False with raise_exception=False).

    It fails closed: a NaN or infinity in either gradient is a failure, never
    a pass; `eps` must be finite and > 0, `atol` and `rtol` finite and >= 0,
    and the inputs finite (ValueError otherwise).
    """
    _check_tolerance(eps, "eps", positive=True)
    _check_tolerance(atol, "atol")
    _check_tolerance(rtol, "rtol")
    inputs = tuple(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"gradcheck: input {i} must be a Tensor, got {type(t).__name__}")
        if t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {t.dtype}; finite differences need "
                            f"float64 inputs (Tensor(x.astype('float64'), requires_grad=True))")
        if not np.isfinite(t.numpy()).all():
            raise ValueError(f"gradcheck: input {i} holds NaN or infinite values; the "
                             f"gradients there cannot be checked")
    checked = [i for i, t in enumerate(inputs) if t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    weights = np.random.default_rng(0).uniform(0.5, 1.5, out.shape)

    def scalar() -> float:
        with no_grad():  # only values are needed: record no graph
            return float((fn(*inputs).numpy().astype(np.float64) * weights).sum())

    for t in inputs:
        t.grad = None
    if out.requires_grad:  # else autograd's gradient is zero: compared as such below
        (out * Tensor(weights, device=out.device, dtype=out.dtype)).sum().backward()

    for i in checked:
        t = inputs[i]
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(np.float64)
        host = t.numpy().copy()
        numeric = np.zeros(t.shape)
        flat = host.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            _set(t, host)
            plus = scalar()
            flat[j] = orig - eps
            _set(t, host)
            minus = scalar()
            flat[j] = orig
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        _set(t, host)
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, a failure below
            err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        wrong = ~(err <= 0)  # NaN compares false: a NaN gradient fails
        if wrong.any():
            worst = np.unravel_index(int(np.argmax(np.where(np.isnan(err), np.inf, err))),
                                     t.shape)
            msg = (f"gradcheck: gradient of input {i} (shape {t.shape}) is wrong at "
                   f"{tuple(int(k) for k in worst)}: autograd {analytic[worst]:.6g}, numerical "
                   f"{numeric[worst]:.6g} ({int(wrong.sum())} of {err.size} elements "
                   f"outside atol={atol}, rtol={rtol}, or not finite)")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def _check_tolerance(value, name: str, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"gradcheck: `{name}` must be a finite number "
                         f"{'> 0' if positive else '>= 0'}, got {value!r}")


def _set(t: Tensor, host: np.ndarray) -> None:
    t.data = Tensor(host, device=t.device, dtype=host.dtype).data

"""Activations: one Function per op, its backward beside its forward.

Keras 3's activations (keras.activations), by name and signature. The
per-element formulas are kernel bodies in backends/bodies.py and
activation_bodies.py, run by the backend's map kernels (ElementwiseFn); each
backward needs only what its forward saved (the output or the input). The row
ops (softmax, log_softmax, sparsemax) run over any axis. The ops also give
Tensor its method sugar (`x.relu()`, `x.softmax(axis)`), so the core never
imports this module.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np

from ..backends.bodies import ELEMENTWISE
from ..tensor import Function, Tensor, as_tensor
from .checks import axis_index, float_tensor


class ElementwiseFn(Function):
    """One op of the backend's elementwise table (relu, elu, ...): its forward body
    with parameters (a, b), and its backward from what the table says it reads,
    the output or the input."""

    @staticmethod
    def forward(ctx, x, op, params):
        y = ctx.backend.map_forward(op, x, *params)
        ctx.op, ctx.params = op, params
        ctx.save_for_backward(y if ELEMENTWISE[op].saves == "y" else x)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.map_backward(ctx.op, ctx.saved_tensors[0], g, *ctx.params), None, None


class SoftmaxFn(Function):
    """Softmax over the last axis (see `softmax` for any axis)."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.softmax_forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.softmax_backward(ctx.saved_tensors[0], g)


class SparsemaxFn(Function):
    """Sparsemax over the last axis."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.sparsemax_forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.sparsemax_backward(ctx.saved_tensors[0], g)


class LogSoftmaxFn(Function):
    """Log-softmax over the last axis."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.log_softmax_forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.log_softmax_backward(ctx.saved_tensors[0], g)


def _over_axis(fn: type, x: Tensor, axis, name: str) -> Tensor:
    """A last-axis row Function applied along any axis (moved last and back)."""
    x = float_tensor(x, name)
    axis = axis_index(axis, x.ndim, name)
    if axis == x.ndim - 1:
        return fn.apply(x)
    perm = [i for i in range(x.ndim) if i != axis] + [axis]
    inverse = [perm.index(i) for i in range(x.ndim)]
    return fn.apply(x.transpose(perm)).transpose(inverse)


def _elementwise(op: str, x, *params) -> Tensor:
    x = float_tensor(x, op)
    for (name, _), value in zip(ELEMENTWISE[op].params, params):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not math.isfinite(value):
            raise ValueError(f"{op}: `{name}` must be a finite number, got {value!r}")
    return ElementwiseFn.apply(x, op, tuple(float(p) for p in params))


def relu(x, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Tensor:
    """max(x, 0); NaN stays NaN. With Keras's options: x below `threshold` goes to 0
    (or, with `negative_slope`, to negative_slope * (x - threshold)), and the result
    is capped at `max_value`."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _elementwise("relu", x)
    if max_value is None and threshold == 0.0:
        return leaky_relu(x, negative_slope)
    if max_value is not None and (isinstance(max_value, bool) or
                                  not isinstance(max_value, numbers.Real) or max_value < 0):
        raise ValueError(f"relu: `max_value` must be None or a number >= 0, got {max_value!r}")
    # Keras's composition (keras.activations.relu), piece by piece
    y = _elementwise("threshold", x, threshold, 0.0)
    if max_value is not None:
        y = y.clip(0.0, float(max_value))
    if negative_slope != 0.0:
        y = y - _elementwise("relu", threshold - as_tensor(x)) * float(negative_slope)
    return y


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    return _elementwise("leaky_relu", x, negative_slope)


def relu6(x) -> Tensor:
    return _elementwise("relu6", x)


def sigmoid(x) -> Tensor:
    return _elementwise("sigmoid", x)


def tanh(x) -> Tensor:
    return _elementwise("tanh", x)


def gelu(x, approximate: bool = False) -> Tensor:
    """x * Phi(x), Phi the standard normal CDF (the exact erf form, Keras's default);
    approximate=True: the tanh form."""
    return _elementwise("gelu_tanh" if approximate else "gelu", x)


def elu(x, alpha: float = 1.0) -> Tensor:
    return _elementwise("elu", x, alpha)


def selu(x) -> Tensor:
    return _elementwise("selu", x)


def celu(x, alpha: float = 1.0) -> Tensor:
    if alpha == 0:
        raise ValueError("celu: `alpha` must not be 0 (it divides x)")
    return _elementwise("celu", x, alpha)


def exponential(x) -> Tensor:
    return _elementwise("exponential", x)


def softplus(x) -> Tensor:
    return _elementwise("softplus", x)


def log_sigmoid(x) -> Tensor:
    return _elementwise("log_sigmoid", x)


def softsign(x) -> Tensor:
    return _elementwise("softsign", x)


def silu(x) -> Tensor:
    return _elementwise("silu", x)


def mish(x) -> Tensor:
    return _elementwise("mish", x)


def squareplus(x, b: float = 4) -> Tensor:
    if isinstance(b, numbers.Real) and b < 0:
        raise ValueError(f"squareplus: `b` must be >= 0, got {b!r}")
    return _elementwise("squareplus", x, b)


def hard_sigmoid(x) -> Tensor:
    return _elementwise("hard_sigmoid", x)


def hard_silu(x) -> Tensor:
    return _elementwise("hard_silu", x)


def hard_tanh(x) -> Tensor:
    return _elementwise("hard_tanh", x)


def sparse_sigmoid(x) -> Tensor:
    return _elementwise("sparse_sigmoid", x)


def sparse_plus(x) -> Tensor:
    return _elementwise("sparse_plus", x)


def soft_shrink(x, threshold: float = 0.5) -> Tensor:
    return _elementwise("soft_shrink", x, threshold)


def hard_shrink(x, threshold: float = 0.5) -> Tensor:
    return _elementwise("hard_shrink", x, threshold)


def tanh_shrink(x) -> Tensor:
    return _elementwise("tanh_shrink", x)


def threshold(x, threshold: float, default_value: float) -> Tensor:
    """x where x > threshold, else default_value."""
    return _elementwise("threshold", x, threshold, default_value)


def softmax(x, axis: int = -1) -> Tensor:
    return _over_axis(SoftmaxFn, x, axis, "softmax")


def log_softmax(x, axis: int = -1) -> Tensor:
    return _over_axis(LogSoftmaxFn, x, axis, "log_softmax")


def sparsemax(x, axis: int = -1) -> Tensor:
    """The Euclidean projection onto the probability simplex along `axis`: sparse
    probabilities (Martins & Astudillo, 2016)."""
    return _over_axis(SparsemaxFn, x, axis, "sparsemax")


def glu(x, axis: int = -1) -> Tensor:
    """a * sigmoid(b), a and b the two halves of x along `axis`."""
    x = float_tensor(x, "glu")
    axis = axis_index(axis, x.ndim, "glu")
    if x.shape[axis] % 2:
        raise ValueError(f"glu: the size of axis {axis} must be even (it is split in two "
                         f"halves), got shape {x.shape}")
    half = x.shape[axis] // 2
    pairs = x.reshape(x.shape[:axis] + (2, half) + x.shape[axis + 1:])
    pick = np.zeros((2,) + (1,) * (x.ndim - axis), x.dtype)
    first, second = pick.copy(), pick
    first[0], second[1] = 1, 1
    a = (pairs * first).sum(axis=axis)
    b = (pairs * second).sum(axis=axis)
    return a * sigmoid(b)


def linear(x: Tensor) -> Tensor:
    return x


swish = silu          # Keras's aliases
hard_swish = hard_silu

ACTIVATIONS = {f.__name__: f for f in (
    relu, leaky_relu, relu6, softmax, celu, elu, selu, softplus, softsign, squareplus,
    soft_shrink, sparse_plus, silu, gelu, glu, tanh, tanh_shrink, threshold, sigmoid,
    sparse_sigmoid, exponential, hard_sigmoid, hard_silu, hard_tanh, hard_shrink, linear,
    mish, log_softmax, log_sigmoid, sparsemax)}
ACTIVATIONS.update(swish=silu, hard_swish=hard_silu)


def get(activation, owner: str = "activation") -> Callable[[Tensor], Tensor]:
    """An activation by Keras name ('relu', 'softmax', ...), None (linear) or a callable."""
    if activation is None:
        return linear
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]
    raise ValueError(f"{owner}: unknown activation {activation!r}; expected one of "
                     f"{sorted(ACTIVATIONS)} or a callable")


def name_of(activation) -> str:
    """The Keras name of an activation function (for configs and summaries)."""
    for name, fn in ACTIVATIONS.items():
        if fn is activation:
            return name
    return getattr(activation, "__name__", repr(activation))


# Tensor's method sugar, added here so that imports point one way (ops -> tensor).
for _method in (relu, sigmoid, tanh, softmax, log_softmax):
    setattr(Tensor, _method.__name__, _method)

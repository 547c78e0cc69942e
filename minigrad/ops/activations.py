"""Activations: one Function per op, its backward beside its forward.

The per-element formulas are kernel bodies in backends/bodies.py, run by the
backend's map kernels; each backward needs only what its forward saved (the
output, or for GELU the input). The ops also give Tensor its method sugar
(`x.relu()`, `x.softmax(axis)`), so the core never imports this module.
"""
from __future__ import annotations

from typing import Callable

from ..tensor import Function, Tensor
from .checks import axis_index, float_tensor


class ReLUFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.relu_forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.relu_backward(ctx.saved_tensors[0], g)


class SigmoidFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.sigmoid_forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.sigmoid_backward(ctx.saved_tensors[0], g)


class TanhFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.tanh_forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.tanh_backward(ctx.saved_tensors[0], g)


class GeluFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)  # the derivative needs the input
        return ctx.backend.gelu_forward(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.gelu_backward(ctx.saved_tensors[0], g)


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


def relu(x) -> Tensor:
    """max(x, 0); NaN stays NaN."""
    return ReLUFn.apply(float_tensor(x, "relu"))


def sigmoid(x) -> Tensor:
    return SigmoidFn.apply(float_tensor(x, "sigmoid"))


def tanh(x) -> Tensor:
    return TanhFn.apply(float_tensor(x, "tanh"))


def gelu(x, approximate: bool = False) -> Tensor:
    """x * Phi(x), Phi the standard normal CDF (Keras's gelu; the exact erf form)."""
    if approximate:
        raise ValueError("gelu: approximate=True (the tanh form) is not implemented; use the "
                         "exact form, approximate=False (Keras's default)")
    return GeluFn.apply(float_tensor(x, "gelu"))


def softmax(x, axis: int = -1) -> Tensor:
    return _over_axis(SoftmaxFn, x, axis, "softmax")


def log_softmax(x, axis: int = -1) -> Tensor:
    return _over_axis(LogSoftmaxFn, x, axis, "log_softmax")


def linear(x: Tensor) -> Tensor:
    return x


ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "gelu": gelu,
               "softmax": softmax, "linear": linear}


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

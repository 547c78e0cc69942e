"""Activations: Numba kernels (CPU) behind ReLU, sigmoid, tanh, softmax, log-softmax.

Each backward needs only the forward's output, which is what it saves.
"""
from __future__ import annotations

from typing import Callable

from ..tensor import Function, Tensor


def _elementwise(forward_kernel: str, backward_kernel: str, name: str) -> type:
    def forward(ctx, x):
        y = getattr(ctx.backend, forward_kernel)(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return getattr(ctx.backend, backward_kernel)(ctx.saved_tensors[0], g)

    return type(name, (Function,), {"forward": staticmethod(forward),
                                    "backward": staticmethod(backward)})


ReLU = _elementwise("relu_forward", "relu_backward", "ReLU")
Sigmoid = _elementwise("sigmoid_forward", "sigmoid_backward", "Sigmoid")
Tanh = _elementwise("tanh_forward", "tanh_backward", "Tanh")
Softmax = _elementwise("softmax_forward", "softmax_backward", "Softmax")  # last axis
LogSoftmax = _elementwise("log_softmax_forward", "log_softmax_backward", "LogSoftmax")


def over_last_axis(fn: type, x: Tensor, axis: int) -> Tensor:
    """Apply a last-axis row kernel along any axis (moved last and back)."""
    axis = axis % x.ndim
    if axis == x.ndim - 1:
        return fn.apply(x)
    perm = [i for i in range(x.ndim) if i != axis] + [axis]
    inverse = [perm.index(i) for i in range(x.ndim)]
    return fn.apply(x.transpose(perm)).transpose(inverse)


def relu(x: Tensor) -> Tensor: return ReLU.apply(x)
def sigmoid(x: Tensor) -> Tensor: return Sigmoid.apply(x)
def tanh(x: Tensor) -> Tensor: return Tanh.apply(x)
def softmax(x: Tensor, axis: int = -1) -> Tensor: return over_last_axis(Softmax, x, axis)
def log_softmax(x: Tensor, axis: int = -1) -> Tensor: return over_last_axis(LogSoftmax, x, axis)
def linear(x: Tensor) -> Tensor: return x


ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
               "linear": linear}


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

"""Activations: one Function per op, its backward beside its forward.

The per-element formulas are kernel bodies in backends/bodies.py, run by the
backend's map kernels; each backward needs only what its forward saved (the
output, or the input). Keras's names for them (`activation="selu"`) are in
minigrad.activations. The ops also give Tensor its method sugar
(`x.relu()`, `x.softmax(axis)`), so the core never imports this module.
"""
from __future__ import annotations

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


class _MapFn(Function):
    """An elementwise op of backends/bodies.ELEMENTWISE: the subclasses below name the
    op and what its backward reads (the output or the input)."""

    op, saves_output = "", False

    @classmethod
    def forward(cls, ctx, x):
        y = getattr(ctx.backend, f"{cls.op}_forward")(x)
        ctx.save_for_backward(y if cls.saves_output else x)
        return y

    @classmethod
    def backward(cls, ctx, g):
        return getattr(ctx.backend, f"{cls.op}_backward")(ctx.saved_tensors[0], g)


class EluFn(_MapFn):
    op, saves_output = "elu", True


class SeluFn(_MapFn):
    op = "selu"


class SoftplusFn(_MapFn):
    op = "softplus"


class SoftsignFn(_MapFn):
    op = "softsign"


class SiluFn(_MapFn):
    op = "silu"


class MishFn(_MapFn):
    op = "mish"


class HardSigmoidFn(_MapFn):
    op = "hard_sigmoid"


class HardSiluFn(_MapFn):
    op = "hard_silu"


class Relu6Fn(_MapFn):
    op = "relu6"


def elu(x) -> Tensor:
    """x above 0, exp(x) - 1 below (alpha 1; mg.activations.elu takes any alpha)."""
    return EluFn.apply(float_tensor(x, "elu"))


def selu(x) -> Tensor:
    """scale * elu(x, alpha) with Keras's constants (1.0507..., 1.6732...)."""
    return SeluFn.apply(float_tensor(x, "selu"))


def softplus(x) -> Tensor:
    """log(1 + exp(x)), without overflow."""
    return SoftplusFn.apply(float_tensor(x, "softplus"))


def softsign(x) -> Tensor:
    """x / (1 + |x|)."""
    return SoftsignFn.apply(float_tensor(x, "softsign"))


def silu(x) -> Tensor:
    """x * sigmoid(x) (swish)."""
    return SiluFn.apply(float_tensor(x, "silu"))


def mish(x) -> Tensor:
    """x * tanh(softplus(x))."""
    return MishFn.apply(float_tensor(x, "mish"))


def hard_sigmoid(x) -> Tensor:
    """relu6(x + 3) / 6."""
    return HardSigmoidFn.apply(float_tensor(x, "hard_sigmoid"))


def hard_silu(x) -> Tensor:
    """x * hard_sigmoid(x) (hard_swish)."""
    return HardSiluFn.apply(float_tensor(x, "hard_silu"))


def relu6(x) -> Tensor:
    """min(max(x, 0), 6)."""
    return Relu6Fn.apply(float_tensor(x, "relu6"))


# Tensor's method sugar, added here so that imports point one way (ops -> tensor).
for _method in (relu, sigmoid, tanh, softmax, log_softmax):
    setattr(Tensor, _method.__name__, _method)

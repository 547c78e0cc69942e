"""Ops behind the merge layers: elementwise maximum/minimum, concatenate."""
from __future__ import annotations

from ..tensor import Function, Tensor, as_tensor


class _ExtremumFn(Function):
    take_max = True

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        B = ctx.backend
        return B.maximum(a, b) if cls.take_max else B.minimum(a, b)

    @classmethod
    def backward(cls, ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga, gb = B.extremum_backward(a, b, g, cls.take_max)
        return (B.sum_to_shape(ga, a.shape) if ctx.needs_input_grad[0] else None,
                B.sum_to_shape(gb, b.shape) if ctx.needs_input_grad[1] else None)


class MaximumFn(_ExtremumFn):
    take_max = True


class MinimumFn(_ExtremumFn):
    take_max = False


class ConcatenateFn(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis, ctx.sizes = axis, [a.shape[axis] for a in arrays]
        return ctx.backend.concatenate(arrays, axis)

    @staticmethod
    def backward(ctx, g):
        return (None,) + tuple(ctx.backend.split(g, ctx.sizes, ctx.axis))


def maximum(a, b) -> Tensor:
    """Elementwise max(a, b), NumPy broadcasting; the gradient goes to the larger
    operand (to `a` on ties)."""
    a, b = _pair(a, b)
    return MaximumFn.apply(a, b)


def minimum(a, b) -> Tensor:
    a, b = _pair(a, b)
    return MinimumFn.apply(a, b)


def concatenate(tensors, axis: int = -1) -> Tensor:
    """Join tensors along `axis`; every other axis must match."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    ndim = tensors[0].ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis {axis} is out of range for tensors of rank {ndim}")
    axis %= ndim
    shapes = [t.shape for t in tensors]
    if any(len(s) != ndim or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]
           for s in shapes):
        raise ValueError(f"concatenate: shapes must match except along axis {axis}, got {shapes}")
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(f"concatenate: tensors must share one dtype, got "
                        f"{[str(t.dtype) for t in tensors]}")
    return ConcatenateFn.apply(axis, *tensors)


def _pair(a, b) -> tuple:
    if isinstance(a, Tensor):
        return a, a._lift(b)
    b = as_tensor(b)
    return b._lift(a), b

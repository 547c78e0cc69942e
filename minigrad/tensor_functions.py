"""The core Functions behind Tensor's own methods: arithmetic (+ - * / @ ** and
negation), sum, reshape, transpose, exp, log and clip, each with its backward
beside its forward. The layer ops (conv, pool, dense, activations, dropout,
losses) live in minigrad.ops.
"""
from __future__ import annotations

import numpy as np

from .tensor import Function


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.backend.add(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (sa, sb) = ctx.backend, ctx.shapes
        return B.sum_to_shape(g, sa), B.sum_to_shape(g, sb)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.backend.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (sa, sb) = ctx.backend, ctx.shapes
        return B.sum_to_shape(g, sa), B.sum_to_shape(B.negative(g), sb)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.backend.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga = B.sum_to_shape(B.multiply(g, b), a.shape) if ctx.needs_input_grad[0] else None
        gb = B.sum_to_shape(B.multiply(g, a), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.backend.divide(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga = B.sum_to_shape(B.divide(g, b), a.shape) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:  # d(a/b)/db = -a/b^2
            gb = B.sum_to_shape(B.negative(B.divide(B.multiply(g, a), B.multiply(b, b))), b.shape)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return ctx.backend.negative(a)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.negative(g)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return ctx.backend.power(a, a.dtype.type(exponent))

    @staticmethod
    def backward(ctx, g):
        B, (a,), e = ctx.backend, ctx.saved_tensors, ctx.exponent
        return B.multiply(g, B.multiply(B.power(a, a.dtype.type(e - 1)), a.dtype.type(e))), None


class Power(Function):
    """a ** b with a tensor exponent: NumPy's power, so (-2) ** 2 = 4 and
    (-2) ** 0.5 = nan; gradients as PyTorch's (0 where b == 0 for a, and where
    a == 0 and b >= 0 for b)."""

    @staticmethod
    def forward(ctx, a, b):
        y = ctx.backend.power(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        B, (a, b, y) = ctx.backend, ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:  # b * a^(b-1); the exponent is 0 where b == 0
            exponent = B.add(B.subtract(b, B.constant(1, b.dtype)), B.clip_mask(b, 0, 0))
            ga = B.sum_to_shape(B.multiply(g, B.multiply(b, B.power(a, exponent))), a.shape)
        if ctx.needs_input_grad[1]:  # a^b * log(a); log(1) = 0 where a == 0 and b >= 0
            zero_base = B.multiply(B.clip_mask(a, 0, 0), B.clip_mask(b, 0, np.inf))
            gb = B.sum_to_shape(B.multiply(g, B.multiply(y, B.log(B.add(a, zero_base)))),
                                b.shape)
        return ga, gb


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = ctx.backend.exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.multiply(g, ctx.saved_tensors[0])


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.backend.log(a)

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.divide(g, ctx.saved_tensors[0])


class Clip(Function):
    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a)
        ctx.bounds = (low, high)
        return ctx.backend.clip(a, low, high)

    @staticmethod
    def backward(ctx, g):
        B, (a,), (low, high) = ctx.backend, ctx.saved_tensors, ctx.bounds
        return B.multiply(g, B.clip_mask(a, low, high)), None, None


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: expected (M, K) @ (K, N), got {tuple(a.shape)} @ "
                             f"{tuple(b.shape)}")
        ctx.save_for_backward(a, b)
        return ctx.backend.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga = B.matmul(g, B.transpose(b)) if ctx.needs_input_grad[0] else None
        gb = B.matmul_tn(a, g) if ctx.needs_input_grad[1] else None
        return ga, gb


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.in_shape = a.shape
        ctx.kept = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
        return ctx.backend.sum(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        B = ctx.backend
        g = B.reshape(g, ctx.kept)
        return B.broadcast_copy(g, ctx.in_shape), None, None


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        try:
            return ctx.backend.reshape(a, shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {tuple(a.shape)} into {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.reshape(g, ctx.in_shape), None


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return ctx.backend.transpose(a, axes)

    @staticmethod
    def backward(ctx, g):
        inverse = None if ctx.axes is None else tuple(np.argsort(ctx.axes))
        return ctx.backend.transpose(g, inverse), None

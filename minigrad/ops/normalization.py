"""Batch and layer normalisation, each a fused Function over the backend's kernels.

Batch norm with batch statistics takes three passes forward and back: the
statistics (one pass of float64 sums in fixed chunks), the normalisation (one
pass, `x * scale + shift` per channel), and in backward the two sums (gy and
gy * xhat, one pass) then the input gradient (one pass). With given statistics
(the moving averages at inference) it is the one scale-shift pass each way.
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..tensor import Function, Tensor
from .checks import axis_index, float_tensor


def _axis_last(x: Tensor, axis: int):
    """x with `axis` moved last, and the permutation that moves it back (None: none)."""
    if axis == x.ndim - 1:
        return x, None
    perm = [i for i in range(x.ndim) if i != axis] + [axis]
    return x.transpose(perm), [perm.index(i) for i in range(x.ndim)]


class BatchNormFn(Function):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis, as Keras's
    `x * inv + (beta - mean * inv)`, inv = gamma / sqrt(var + epsilon), then ReLU if
    `relu`, then a max pool if `pool` (a PoolGeometry of windows that do not overlap).
    mean and var are arrays, not inputs: with `batch_stats` they are x's own (and the
    input gradient accounts for that), else constants (the moving averages)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, epsilon, batch_stats, relu, pool):
        B = ctx.backend
        dt = x.dtype
        invstd = B.divide(B.constant(1, dt), B.sqrt(B.add(var, B.constant(epsilon, dt))))
        scale = invstd if gamma is None else B.multiply(gamma, invstd)
        shift = B.negative(B.multiply(mean, scale))
        if beta is not None:
            shift = B.add(beta, shift)
        arg = None
        if pool is None:
            y = B.scale_shift(x, scale, shift, relu)
        else:   # the normalised values never go through memory whole
            y, arg = B.scale_shift_maxpool(x, scale, shift, relu, pool)
        ctx.save_for_backward(x, mean, invstd, scale, shift if relu else None, arg)
        ctx.batch_stats, ctx.pool = batch_stats, pool
        return y

    @staticmethod
    def backward(ctx, g):
        B, (x, mean, invstd, scale, shift, arg) = ctx.backend, ctx.saved_tensors
        need_x, need_gamma, need_beta = ctx.needs_input_grad[:3]
        # the fused ReLU's mask: recomputed from x inside the kernels that read g, no
        # masked copy of g (benchmarks/README.md, "BatchNormalization + ReLU backward");
        # the pool's gradient read through its winners, no dense copy either
        relu = None if shift is None else (scale, shift)
        pooled = None if arg is None else (arg, ctx.pool)
        sum_g = sum_g_xhat = gx = None
        if need_gamma or need_beta or (need_x and ctx.batch_stats):
            sum_g, sum_g_xhat = B.norm_param_sums(x, g, mean, invstd, False, relu, pooled)
        if need_x and ctx.batch_stats:
            gx = B.batchnorm_backward_input(x, g, mean, invstd, scale, sum_g, sum_g_xhat, relu,
                                            pooled)
        elif need_x:   # constant statistics: gx = g * scale, g unpooled and masked first
            if pooled is not None:
                g = B.maxpool2d_backward(g, arg, x.shape)
            if relu is not None:
                g = B.map_backward("relu", B.scale_shift(x, scale, shift, True), g)
            gx = B.scale_shift(g, scale, None)
        return (gx, sum_g_xhat if need_gamma else None, sum_g if need_beta else None,
                None, None, None, None, None, None)


def _check_params(x: Tensor, axis: int, name: str, **params) -> dict:
    """The per-channel arguments as Tensors of x's dtype and shape (C,), or None."""
    c = x.shape[axis]
    out = {}
    for arg, value in params.items():
        if value is None:
            out[arg] = None
            continue
        t = float_tensor(value, name, arg)
        if t.shape != (c,):
            raise ValueError(f"{name}: `{arg}` must have shape ({c},) (the size of axis "
                             f"{axis}), got {t.shape}")
        if t.dtype != x.dtype:
            raise TypeError(f"{name}: `{arg}` must be {x.dtype} like the input, got {t.dtype}")
        out[arg] = t if t.device == x.device else t.to(x.device)
    return out


def batch_normalization(x, mean, variance, axis: int = -1, offset=None, scale=None,
                        epsilon: float = 1e-3, name: str = "batch_normalization") -> Tensor:
    """Keras's ops.batch_normalization: (x - mean) / sqrt(variance + epsilon) * scale +
    offset along `axis`. mean and variance are taken as constants (no gradient)."""
    x = float_tensor(x, name)
    axis = axis_index(axis, x.ndim, name)
    p = _check_params(x, axis, name, mean=mean, variance=variance, offset=offset, scale=scale)
    xt, back = _axis_last(x, axis)
    y = BatchNormFn.apply(xt, p["scale"], p["offset"], p["mean"].data, p["variance"].data,
                          float(epsilon), False, False, None)
    return y if back is None else y.transpose(back)


def batch_normalization_training(x, gamma, beta, axis: int = -1, epsilon: float = 1e-3,
                                 name: str = "batch_normalization", relu: bool = False,
                                 pool=None) -> tuple:
    """Batch normalisation with x's own statistics over every axis but `axis` ->
    (y, mean, variance), mean and variance backend arrays (population variance).
    `relu`: y goes through ReLU in the same pass (BatchNormalization then ReLU).
    `pool`: then a max pool of this PoolGeometry, whose windows must not overlap
    (strides = pool size, unpadded), over an (N, H, W, C) x normalised over C."""
    x = float_tensor(x, name)
    axis = axis_index(axis, x.ndim, name)
    p = _check_params(x, axis, name, gamma=gamma, beta=beta)
    if pool is not None and not pool_fits(x.shape, axis, pool):
        raise ValueError(f"{name}: a fused max pool needs an (N, H, W, C) input normalised "
                         f"over its last axis and whole windows that do not overlap; got "
                         f"input shape {x.shape}, axis {axis}, pool {pool}")
    xt, back = _axis_last(x, axis)
    mean, var = get_backend(xt.device).batchnorm_stats(xt.data)
    y = BatchNormFn.apply(xt, p["gamma"], p["beta"], mean, var, float(epsilon), True, relu,
                          pool)
    return (y if back is None else y.transpose(back)), mean, var


def pool_fits(shape, axis: int, pool) -> bool:
    """Whether batch_normalization_training can fuse this max pool (PoolGeometry) after
    it: an (N, H, W, C) input normalised over C, strides = pool size, unpadded, every
    window whole (each value in one window at most)."""
    return len(shape) == 4 and axis % 4 == 3 and (pool.sh, pool.sw) == (pool.ph, pool.pw) \
        and pool.pad_top == pool.pad_left == 0 and pool.oh * pool.ph <= shape[1] and \
        pool.ow * pool.pw <= shape[2]


class LayerNormFn(Function):
    """Each row of a (rows, K) x normalised over its K values, * gamma + beta."""

    @staticmethod
    def forward(ctx, x, gamma, beta, epsilon):
        B = ctx.backend
        k = tuple(x.shape)[-1]
        g = B.full((k,), 1, x.dtype) if gamma is None else gamma
        b = B.zeros((k,), x.dtype) if beta is None else beta
        y, mean, invstd = B.layernorm_forward(x, g, b, epsilon)
        ctx.save_for_backward(x, mean, invstd, g)
        return y

    @staticmethod
    def backward(ctx, g):
        B, (x, mean, invstd, gamma) = ctx.backend, ctx.saved_tensors
        need_x, need_gamma, need_beta = ctx.needs_input_grad[:3]
        gx = B.layernorm_backward_input(x, g, mean, invstd, gamma) if need_x else None
        sum_g = sum_g_xhat = None
        if need_gamma or need_beta:
            sum_g, sum_g_xhat = B.norm_param_sums(x, g, mean, invstd, True)
        return gx, sum_g_xhat if need_gamma else None, sum_g if need_beta else None, None


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon: float = 1e-3,
                        name: str = "layer_normalization") -> Tensor:
    """Keras's ops.layer_normalization: x normalised over the axes `axis` (an int or a
    list), then * gamma + beta, gamma and beta of those axes' shape."""
    x = float_tensor(x, name)
    axes = sorted({axis_index(a, x.ndim, name) for a in
                   (axis if isinstance(axis, (list, tuple)) else [axis])})
    norm_shape = tuple(x.shape[a] for a in axes)
    params = []
    for arg, value in (("gamma", gamma), ("beta", beta)):
        if value is None:
            params.append(None)
            continue
        t = float_tensor(value, name, arg)
        if t.shape != norm_shape:
            raise ValueError(f"{name}: `{arg}` must have shape {norm_shape} (the normalised "
                             f"axes {axes}), got {t.shape}")
        params.append(t.reshape(-1))
    rest = [a for a in range(x.ndim) if a not in axes]
    perm = rest + axes
    same = perm == list(range(x.ndim))
    xt = x if same else x.transpose(perm)
    k = int(np.prod(norm_shape))
    y = LayerNormFn.apply(xt.reshape(-1, k), *params, float(epsilon)).reshape(xt.shape)
    return y if same else y.transpose([perm.index(i) for i in range(x.ndim)])

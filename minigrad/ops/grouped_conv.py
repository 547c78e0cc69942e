"""Grouped and depthwise 2-D convolution (Keras's Conv2D(groups=...), DepthwiseConv2D),
NHWC: each filter sees only its group's channels.

Two ways, whichever was faster (measured on the CPU: examples in the commit log,
benchmarks/ops.py's depthwise case): groups of a few channels (a depthwise conv has
one) run on the backend's direct grouped kernels; groups of GEMM_GROUP_CHANNELS or
more run as one im2col + GEMM convolution per group on its channel slice."""
from __future__ import annotations

from ..tensor import Function, Tensor
from .checks import float_tensor
from .conv import bias_act_grads, conv2d_geometry, fused_relu


GEMM_GROUP_CHANNELS = 8  # from this many channels a group, per-group GEMMs beat the direct
#                          kernel (CPU, batch 32, 16x16: 8 channels ~1-4x, 32 ~6x; 1: 0.4x)


class GroupedConv2DFn(Function):
    """grouped conv, + bias, then ReLU if asked (the epilogue fused as in Conv2DFn)."""

    @staticmethod
    def forward(ctx, x, w, b, geom, groups, relu):
        B = ctx.backend
        ctx.per_group = w.shape[2] >= GEMM_GROUP_CHANNELS
        if ctx.per_group:   # one im2col + GEMM per group; its cols kept for the weights
            parts = [B.conv2d_forward(xg, wg, geom) for xg, wg in
                     zip(B.split(x, [w.shape[2]] * groups, 3),
                         B.split(w, [w.shape[3] // groups] * groups, 3))]
            y = B.concatenate([p[0] for p in parts], 3)
            ctx.cols = [p[1] for p in parts]
        else:
            y = B.grouped_conv2d_forward(x, w, geom, groups)
        if b is not None or relu:
            B.bias_act(y, b, relu)
        ctx.save_for_backward(x, w, y if relu else None)
        ctx.geom, ctx.groups = geom, groups
        return y

    @staticmethod
    def backward(ctx, g):
        B, (x, w, y) = ctx.backend, ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g, gb = bias_act_grads(B, y, g, need_b)
        if ctx.per_group:
            return GroupedConv2DFn._per_group_grads(ctx, x, w, g, need_x, need_w) + (
                gb, None, None, None)
        gx = B.grouped_conv2d_backward_input(g, w, x.shape, ctx.geom, ctx.groups) \
            if need_x else None
        gw = B.grouped_conv2d_backward_weight(x, g, w.shape, ctx.geom, ctx.groups) \
            if need_w else None
        return gx, gw, gb, None, None, None

    @staticmethod
    def _per_group_grads(ctx, x, w, g, need_x, need_w) -> tuple:
        B, groups = ctx.backend, ctx.groups
        cg, fg = w.shape[2], w.shape[3] // groups
        gs = B.split(g, [fg] * groups, 3)
        ws = B.split(w, [fg] * groups, 3)
        gx = gw = None
        if need_x:
            shape = tuple(x.shape[:3]) + (cg,)
            gx = B.concatenate([B.conv2d_backward_input(gg, wg, shape, ctx.geom)
                                for gg, wg in zip(gs, ws)], 3)
        if need_w:
            gw = B.concatenate([B.conv2d_backward_weight(gg, cols, (*w.shape[:3], fg))
                                for gg, cols in zip(gs, ctx.cols)], 3)
        return gx, gw


def grouped_conv2d(x, w, b=None, stride=1, padding: str = "valid", dilation=1, groups: int = 1,
                   *, activation: str | None = None, name: str = "conv2d") -> Tensor:
    """y[..., f] = conv of x's channels [g*C/groups, (g+1)*C/groups) with w[..., f],
    g = f // (F/groups); w is (KH, KW, C/groups, F)."""
    x, w = float_tensor(x, name), float_tensor(w, name, "kernel")
    b = None if b is None else float_tensor(b, name, "bias")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input and a 4-D kernel, got shapes {x.shape} "
                         f"and {w.shape}")
    c, (_, _, cg, f) = x.shape[3], w.shape
    if groups < 1 or c % groups or f % groups or cg * groups != c:
        raise ValueError(f"{name}: with groups={groups} the input's {c} channels and the "
                         f"{f} filters must divide into groups and the kernel must be "
                         f"(kh, kw, {c // max(groups, 1)}, filters); got kernel {w.shape}")
    if b is not None and b.shape != (f,):
        raise ValueError(f"{name}: expected a bias of shape ({f},), got {b.shape}")
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{name}: input, kernel and bias must share one dtype")
    geom = conv2d_geometry(x.shape, w.shape[:2], stride, padding, dilation, name)
    return GroupedConv2DFn.apply(x, w, b, geom, int(groups), fused_relu(activation, name))


def depthwise_conv2d(x, w, b=None, stride=1, padding: str = "valid", dilation=1, *,
                     activation: str | None = None, name: str = "depthwise_conv2d") -> Tensor:
    """Keras's depthwise conv: w (KH, KW, C, multiplier); output channel c * multiplier + m
    is input channel c convolved with w[..., c, m] (a grouped conv with groups = C)."""
    w = float_tensor(w, name, "kernel")
    if w.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D depthwise kernel (kh, kw, channels, "
                         f"depth_multiplier), got shape {w.shape}")
    kh, kw, c, m = w.shape
    return grouped_conv2d(x, w.reshape(kh, kw, 1, c * m), b, stride, padding, dilation, c,
                          activation=activation, name=name)

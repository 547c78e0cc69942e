"""Fully connected layer op: x @ w + b."""
from __future__ import annotations

from ..tensor import Function, Tensor
from .checks import float_tensor
from .conv import bias_act_grads, fused_relu


class DenseFn(Function):
    """x @ w, + bias, then ReLU if asked (the epilogue fused as in Conv2DFn)."""

    @staticmethod
    def forward(ctx, x, w, b, relu):
        B = ctx.backend
        y = B.matmul(x, w)  # OpenBLAS on the CPU: see backends/cpu/backend.py
        if b is not None or relu:
            B.bias_act(y, b, relu)
        ctx.save_for_backward(x, w, y if relu else None)
        return y

    @staticmethod
    def backward(ctx, g):
        B, (x, w, y) = ctx.backend, ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g, gb = bias_act_grads(B, y, g, need_b)
        gx = B.matmul(g, B.transpose(w)) if need_x else None
        gw = B.matmul_tn(x, g) if need_w else None
        return gx, gw, gb, None


def dense(x, w, b=None, *, activation: str | None = None, name: str = "dense") -> Tensor:
    """x (N, in) @ w (in, units) + b (units,); `activation='relu'` fused in."""
    x, w = float_tensor(x, name), float_tensor(w, name, "kernel")
    b = None if b is None else float_tensor(b, name, "bias")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D input (batch, features), got shape {x.shape}")
    if w.ndim != 2 or w.shape[0] != x.shape[1]:
        raise ValueError(f"{name}: expected a kernel of shape ({x.shape[1]}, units) for input "
                         f"{x.shape}, got {w.shape}")
    if b is not None and b.shape != (w.shape[1],):
        raise ValueError(f"{name}: expected a bias of shape ({w.shape[1]},), got {b.shape}")
    return DenseFn.apply(x, w, b, fused_relu(activation, name))

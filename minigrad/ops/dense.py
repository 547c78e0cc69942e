"""Fully connected layer op: x @ w + b."""
from __future__ import annotations

from ..tensor import Function, Tensor, as_tensor


class Dense(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        y = ctx.backend.matmul(x, w)  # NumPy's BLAS on the CPU: see backends/cpu
        return y if b is None else ctx.backend.add(y, b)

    @staticmethod
    def backward(ctx, g):
        B, (x, w) = ctx.backend, ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = B.matmul(g, B.transpose(w)) if need_x else None
        gw = B.matmul(B.transpose(x), g) if need_w else None
        gb = B.bias_grad(g) if need_b else None
        return gx, gw, gb


def dense(x, w, b=None, name: str = "dense") -> Tensor:
    """x (N, in) @ w (in, units) + b (units,)."""
    x, w = as_tensor(x), as_tensor(w)
    b = None if b is None else as_tensor(b)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D input (batch, features), got shape {x.shape}")
    if w.ndim != 2 or w.shape[0] != x.shape[1]:
        raise ValueError(f"{name}: expected a kernel of shape ({x.shape[1]}, units) for input "
                         f"{x.shape}, got {w.shape}")
    if b is not None and b.shape != (w.shape[1],):
        raise ValueError(f"{name}: expected a bias of shape ({w.shape[1]},), got {b.shape}")
    return Dense.apply(x, w, b)

"""Batched matrix products and scaled dot-product attention over them."""
from __future__ import annotations

from ..tensor import Function, Tensor
from .checks import float_tensor


class BatchedMatMulFn(Function):
    """(B, M, K) @ (B, K, N): one product per batch entry (the backend's batched GEMM)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.backend.batched_matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        B, (a, b) = ctx.backend, ctx.saved_tensors
        ga = B.batched_matmul(g, B.transpose(b, (0, 2, 1))) if ctx.needs_input_grad[0] else None
        gb = B.batched_matmul(B.transpose(a, (0, 2, 1)), g) if ctx.needs_input_grad[1] else None
        return ga, gb


def batched_matmul(a, b, name: str = "batched_matmul") -> Tensor:
    """a (B, M, K) @ b (B, K, N) -> (B, M, N)."""
    a, b = float_tensor(a, name), float_tensor(b, name)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"{name}: expected (B, M, K) @ (B, K, N), got {a.shape} @ {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"{name}: both operands must share one dtype, got {a.dtype} and {b.dtype}")
    return BatchedMatMulFn.apply(a, b)

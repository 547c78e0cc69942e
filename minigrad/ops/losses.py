"""Softmax fused with cross-entropy: stable for any finite logits."""
from __future__ import annotations

import numpy as np

from ..tensor import Function, Tensor, as_tensor


class SoftmaxCrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target):
        loss, probs = ctx.backend.softmax_cross_entropy_forward(logits, target)
        ctx.save_for_backward(probs, target)
        return loss

    @staticmethod
    def backward(ctx, g):
        probs, target = ctx.saved_tensors
        return ctx.backend.softmax_cross_entropy_backward(probs, target, g), None


def softmax_cross_entropy(logits, target, sparse: bool = False, name: str = "loss") -> Tensor:
    """Mean over the batch of -sum(target * log_softmax(logits)).

    `target` is a (N, K) distribution, or with `sparse=True` (N,) class ids.
    """
    logits = as_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected (batch, classes) logits, got shape {logits.shape}")
    n, k = logits.shape
    if sparse:
        labels = np.asarray(target.numpy() if isinstance(target, Tensor) else target)
        labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
        if labels.shape != (n,):
            raise ValueError(f"{name}: expected {n} integer labels, got shape {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"{name}: labels must be in [0, {k}), got values in "
                             f"[{labels.min()}, {labels.max()}]")
        target = np.zeros((n, k), logits.dtype)
        target[np.arange(n), labels.astype(np.int64)] = 1
    target = as_tensor(target, logits.device)
    if target.shape != (n, k):
        raise ValueError(f"{name}: expected targets of shape {(n, k)}, got {target.shape}")
    if target.dtype != logits.dtype:
        target = as_tensor(target.numpy().astype(logits.dtype), logits.device)
    return SoftmaxCrossEntropy.apply(logits, target).mean()

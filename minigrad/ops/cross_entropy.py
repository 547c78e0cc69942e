"""Softmax fused with cross-entropy: stable for any finite logits."""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..tensor import Function, Tensor, as_tensor
from .checks import float_tensor


class SoftmaxCrossEntropyFn(Function):
    @staticmethod
    def forward(ctx, logits, target):
        loss, probs = ctx.backend.softmax_cross_entropy_forward(logits, target)
        ctx.save_for_backward(probs, target)
        return loss

    @staticmethod
    def backward(ctx, g):
        probs, target = ctx.saved_tensors
        return ctx.backend.softmax_cross_entropy_backward(probs, target, g), None


def softmax_cross_entropy(logits, target, sparse: bool = False, name: str = "loss",
                          reduction: str = "mean") -> Tensor:
    """Mean over the batch of -sum(target * log_softmax(logits)); with
    `reduction="none"` the (N,) per-row losses (PyTorch's `reduction` argument).

    `target` is a (N, K) distribution, or with `sparse=True` (N,) class ids.
    Targets already on the GPU stay there; sparse labels there are not range
    checked (that would copy them back): one out of range makes the loss NaN,
    as in TensorFlow on a GPU. `fit` checks every label once, up front.
    """
    logits = float_tensor(logits, name, "logits")
    if reduction not in ("mean", "none"):
        raise ValueError(f"{name}: `reduction` must be 'mean' or 'none', got {reduction!r}")
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected (batch, classes) logits, got shape {logits.shape}")
    n, k = logits.shape
    if sparse:
        target = _one_hot(logits, target, name)
    target = as_tensor(target, logits.device)
    if target.shape != (n, k):
        raise ValueError(f"{name}: expected targets of shape {(n, k)}, got {target.shape}")
    if target.dtype != logits.dtype:
        target = Tensor(target.data, device=logits.device, dtype=logits.dtype)
    rows = SoftmaxCrossEntropyFn.apply(logits, target)
    return rows.mean() if reduction == "mean" else rows


def _one_hot(logits: Tensor, target, name: str) -> Tensor:
    """Sparse class ids -> one-hot rows on the logits' device, range checked on the host."""
    (n, k), backend = logits.shape, get_backend(logits.device)
    labels = target.data if isinstance(target, Tensor) else target
    on_host = not backend.is_device_array(labels)
    labels = np.asarray(labels) if on_host else labels
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.reshape(labels.shape[0])
    if tuple(labels.shape) != (n,):
        raise ValueError(f"{name}: expected {n} integer labels, got shape {tuple(labels.shape)}")
    if on_host and labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"{name}: labels must be in [0, {k}), got values in "
                         f"[{labels.min()}, {labels.max()}]")
    return Tensor._wrap(backend.one_hot(backend.asarray(labels, np.int64), k, logits.dtype),
                        logits.device)

"""Embedding lookup: rows of a matrix picked by integer ids, and its gradient, the
picked rows' gradients added back per id in a fixed order (deterministic)."""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..tensor import Function, Tensor
from .checks import float_tensor


class EmbeddingFn(Function):
    @staticmethod
    def forward(ctx, w, ids):
        ctx.ids, ctx.rows = ids, w.shape[0]
        flat = ctx.backend.take(w, ctx.backend.reshape(ids, (-1,)))
        return ctx.backend.reshape(flat, tuple(ids.shape) + tuple(w.shape[1:]))

    @staticmethod
    def backward(ctx, g):
        B = ctx.backend
        flat = B.reshape(g, (-1,) + tuple(g.shape[len(ctx.ids.shape):]))
        return B.take_backward(flat, B.reshape(ctx.ids, (-1,)), ctx.rows), None


def embedding(ids, w, name: str = "embedding") -> Tensor:
    """w[ids]: ids an integer array (any shape) of values in [0, len(w)); the result
    has shape ids.shape + w.shape[1:]. ids outside that range are a ValueError."""
    w = float_tensor(w, name, "embeddings")
    host = ids.numpy() if isinstance(ids, Tensor) else np.asarray(ids)
    if host.dtype.kind == "f":
        if not np.all(np.isfinite(host)) or not np.all(host == np.round(host)):
            raise ValueError(f"{name}: expected integer ids, got non-integer values")
    elif host.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer ids, got dtype {host.dtype}")
    host = host.astype(np.int64)
    if host.size and (host.min() < 0 or host.max() >= w.shape[0]):
        raise ValueError(f"{name}: ids must be in [0, {w.shape[0]}) (input_dim), got values in "
                         f"[{host.min()}, {host.max()}]")
    return EmbeddingFn.apply(w, get_backend(w.device).asarray(host))

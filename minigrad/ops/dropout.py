"""Inverted dropout with a counter-based mask (recomputed in backward, never stored)."""
from __future__ import annotations

from .. import random
from ..tensor import Function, Tensor, as_tensor


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, rate, seed):
        ctx.rate, ctx.seed = rate, seed
        return ctx.backend.dropout(x, rate, seed)

    @staticmethod
    def backward(ctx, g):
        # the same mask and scale: d(x*mask/(1-rate))/dx = mask/(1-rate)
        return ctx.backend.dropout(g, ctx.rate, ctx.seed), None, None


def dropout(x, rate: float, training: bool = True, seed: int | None = None,
            name: str = "dropout") -> Tensor:
    """Zero each element with probability `rate`, scale the rest by 1/(1-rate).

    Identity unless `training`. The mask is a pure function of (seed, index), so
    it is the same on any thread count and on either backend.
    """
    x = as_tensor(x)
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"{name}: `rate` must be in [0, 1), got {rate!r}")
    if not training or rate == 0.0:
        return x
    seed = random.next_seed() if seed is None else int(seed)
    return Dropout.apply(x, float(rate), seed)

"""Inverted dropout with a counter-based mask (recomputed in backward, never stored)."""
from __future__ import annotations

import numbers

from .. import random
from ..tensor import Function, Tensor
from .checks import float_tensor


class DropoutFn(Function):
    @staticmethod
    def forward(ctx, x, rate, seed, offset):
        ctx.rate, ctx.seed, ctx.offset = rate, seed, offset
        return ctx.backend.dropout(x, rate, seed, offset)

    @staticmethod
    def backward(ctx, g):
        # the same mask and scale: d(x*mask/(1-rate))/dx = mask/(1-rate)
        return ctx.backend.dropout(g, ctx.rate, ctx.seed, ctx.offset), None, None, None


def dropout(x, rate: float, training: bool = True, seed: int | None = None,
            name: str = "dropout") -> Tensor:
    """Zero each element with probability `rate`, scale the rest by 1/(1-rate).

    Identity unless `training`. The mask is a pure function of (seed, index), so
    it is the same on any thread count and on either backend; under data
    parallelism the index is the element's in the global batch
    (`minigrad.random.batch_shard`), so the processes draw one process's masks. A dropped NaN stays
    NaN (x is multiplied by the mask, as in PyTorch).
    """
    x = float_tensor(x, name)
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"{name}: `rate` must be in [0, 1), got {rate!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= seed < 2**64):
        raise ValueError(f"{name}: `seed` must be None or an int in [0, 2**64), got {seed!r}")
    if not training or rate == 0.0:
        return x
    seed = random.next_seed() if seed is None else int(seed)
    return DropoutFn.apply(x, float(rate), seed, random.element_offset(x.size))

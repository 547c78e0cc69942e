"""One seeded generator for everything random in minigrad.

`seed(n)` makes weight initialisation, shuffling, validation splits and dropout
masks repeatable. Dropout draws one 64-bit seed per call from here and derives
its mask from (seed, element index), so results do not depend on the thread
count or the backend.

Everything random in a training run (initial weights, the per-epoch shuffle,
dropout masks) is drawn from this one generator, except Dropout layers given a
`seed` of their own; `Sequential.save` stores this generator's state and those
layers' generator states, and `load_model` restores them, so a resumed run
draws what the unbroken run would have.

Keras 3's `keras.random` functions are here too: `normal`, `uniform` and
`dropout` (differentiable), seeded by an int (the same values on every call),
a `SeedGenerator` (new values on every call, a repeatable sequence) or None
(this module's generator).

Under data parallelism each process runs its shard of the global batch;
`batch_shard(start, count)` says which rows those are, so that a dropout mask
is keyed on the global element index: N processes draw the masks one process
would draw for the whole batch.
"""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

_rng = np.random.default_rng()
_shard = (0, 0)   # (first global row, rows) of the batch part this process runs; 0 rows: all


def seed(n: int) -> None:
    """Reseed minigrad's generator (like `keras.utils.set_random_seed`)."""
    global _rng
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise TypeError(f"minigrad.random.seed: expected a non-negative int, got {n!r}")
    _rng = np.random.default_rng(int(n))


def generator() -> np.random.Generator:
    return _rng


def next_seed() -> int:
    return int(_rng.integers(0, 2**63 - 1))


def get_state() -> dict:
    """The generator's full state (JSON-serialisable); checkpoints store it."""
    return _rng.bit_generator.state


def set_state(state: dict) -> None:
    """Restore a state from `get_state()`: the next draws repeat exactly."""
    if not isinstance(state, dict) or \
            state.get("bit_generator") != type(_rng.bit_generator).__name__:
        raise ValueError(f"minigrad.random.set_state: expected a "
                         f"{type(_rng.bit_generator).__name__} state from get_state(), got "
                         f"{state!r:.80}")
    _rng.bit_generator.state = state


# ------------------------------------------------------------- keras.random
class SeedGenerator:
    """Keras 3's `keras.random.SeedGenerator(seed=None, name=None)`: a seed state for
    the `keras.random` functions. Each draw given it advances it, so a layer keeping
    one gets new values on every call and the same sequence for the same `seed`;
    `seed=None` takes its seed from minigrad's generator (repeatable after `seed(n)`)."""

    def __init__(self, seed=None, name: str | None = None, **kwargs):
        if kwargs:
            raise TypeError(f"SeedGenerator: unexpected keyword argument(s) {sorted(kwargs)}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(
                seed, numbers.Integral) or seed < 0):
            raise ValueError(f"SeedGenerator: `seed` must be None or a non-negative int, "
                             f"got {seed!r}")
        from .utils.naming import auto_name
        self.name = name or auto_name("seed_generator")
        self._rng = np.random.default_rng(next_seed() if seed is None else int(seed))

    def next(self) -> int:
        """A fresh 63-bit seed; the generator moves on."""
        return int(self._rng.integers(0, 2**63 - 1))


def _draw_seed(seed, owner: str) -> int:
    """Keras's seed rule: a SeedGenerator advances, an int gives the same values on
    every call, None draws from minigrad's generator."""
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if seed is None:
        return next_seed()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{owner}: `seed` must be None, a non-negative int or a "
                         f"keras.random.SeedGenerator, got {seed!r}")
    return int(seed)


def _sample_shape(shape, owner: str) -> tuple:
    dims = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        dims = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        dims = None
    if dims is None or any(d < 0 for d in dims):
        raise ValueError(f"{owner}: `shape` must be a tuple of non-negative ints, got "
                         f"{shape!r}")
    return dims


def _float_dtype(dtype, owner: str) -> np.dtype:
    dt = np.dtype("float32" if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{owner}: `dtype` must be float32 or float64, got {dtype!r}")
    return dt


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """A Tensor of `shape` drawn from N(mean, stddev**2) (Keras's keras.random.normal)."""
    from .tensor import Tensor
    dims, dt = _sample_shape(shape, "random.normal"), _float_dtype(dtype, "random.normal")
    rng = np.random.default_rng(_draw_seed(seed, "random.normal"))
    return Tensor((rng.standard_normal(dims) * stddev + mean).astype(dt))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """A Tensor of `shape` drawn uniformly from [minval, maxval) (keras.random.uniform)."""
    from .tensor import Tensor
    dims, dt = _sample_shape(shape, "random.uniform"), _float_dtype(dtype, "random.uniform")
    rng = np.random.default_rng(_draw_seed(seed, "random.uniform"))
    return Tensor(rng.uniform(minval, maxval, dims).astype(dt))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Keras's keras.random.dropout: zero each element with probability `rate` and scale
    the rest by 1 / (1 - rate), differentiably; `noise_shape` (None entries taken from
    the input) makes one draw shared along the axes where it is 1."""
    from .ops.dropout import dropout as _dropout
    from .ops.checks import float_tensor
    x = float_tensor(inputs, "random.dropout")
    if not isinstance(rate, numbers.Real) or isinstance(rate, bool) or not 0.0 <= rate < 1.0:
        raise ValueError(f"random.dropout: `rate` must be a float in [0, 1), got {rate!r}")
    drawn = _draw_seed(seed, "random.dropout")
    if noise_shape is None:
        return _dropout(x, float(rate), training=True, seed=drawn % 2**63)
    dims = tuple(x.shape[i] if d is None else d for i, d in enumerate(noise_shape)) \
        if len(noise_shape) == x.ndim else None
    if dims is None or any(d not in (1, n) for d, n in zip(dims, x.shape)):
        raise ValueError(f"random.dropout: `noise_shape` {tuple(noise_shape)} must have one "
                         f"entry per axis of the input of shape {tuple(x.shape)}, each 1, "
                         f"None or that axis's size")
    keep = np.random.default_rng(drawn).random(dims) >= rate
    return x * (keep / (1.0 - rate)).astype(x.dtype)

@contextlib.contextmanager
def batch_shard(start: int, count: int):
    """Within the block, the batch this process computes is rows [start, start +
    count) of the global batch (data parallelism: the other rows are another
    process's)."""
    global _shard
    previous, _shard = _shard, (int(start), int(count))
    try:
        yield
    finally:
        _shard = previous


def element_offset(size: int) -> int:
    """The global flat index of element 0 of a batch-major array of `size` elements
    computed for this process's shard (0 outside `batch_shard`, or when `size` is
    not a whole number of elements per row)."""
    start, count = _shard
    if not start or not count or size % count:
        return 0
    return start * (size // count)

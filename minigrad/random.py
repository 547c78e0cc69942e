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

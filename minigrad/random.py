"""One seeded generator for everything random in minigrad.

`seed(n)` makes weight initialisation, shuffling, validation splits and dropout
masks repeatable. Dropout draws one 64-bit seed per call from here and derives
its mask from (seed, element index), so results do not depend on the thread
count or the backend.
"""
from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def seed(n: int) -> None:
    """Reseed minigrad's generator (like `keras.utils.set_random_seed`)."""
    global _rng
    _rng = np.random.default_rng(int(n))


def generator() -> np.random.Generator:
    return _rng


def next_seed() -> int:
    return int(_rng.integers(0, 2**63 - 1))


def get_state() -> dict:
    return _rng.bit_generator.state


def set_state(state: dict) -> None:
    _rng.bit_generator.state = state

"""Keras's `keras.utils`: to_categorical, normalize, set_random_seed, PyDataset;
and the argument checks that layers and ops share."""
from __future__ import annotations

import random as _py_random

import numpy as _np

from .argument_checks import padding_mode, pair, same_or_valid  # noqa: F401
from .numerical_utils import normalize, to_categorical  # noqa: F401
from .py_dataset import PyDataset, Sequence  # noqa: F401


def set_random_seed(seed: int) -> None:
    """Seed everything random a run draws from: minigrad's generator (weights,
    shuffling, dropout), Python's `random` and NumPy's global generator, as
    `keras.utils.set_random_seed` does."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed!r} "
                         f"(of type {type(seed)})")
    from .. import random as _mg_random
    _mg_random.seed(seed)
    _py_random.seed(seed)
    _np.random.seed(seed)

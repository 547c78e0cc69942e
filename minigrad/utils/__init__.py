"""Keras's `keras.utils` (to_categorical, normalize, set_random_seed, PyDataset) and
the argument checks that layers and ops share."""
from .argument_checks import padding_mode, pair, same_or_valid  # noqa: F401

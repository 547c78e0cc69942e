"""Optimizers with Keras 3's names, defaults and update formulas (each update one
kernel per backend), and `optimizers.schedules`."""
from __future__ import annotations

from ..utils.serialization import Registry
from . import schedules  # noqa: F401  (keras.optimizers.schedules)
from .adam import Adam, Adamax, AdamW, Nadam  # noqa: F401
from .base_optimizer import Optimizer  # noqa: F401
from .sgd import SGD, Adadelta, Adagrad, RMSprop  # noqa: F401

ALL_OBJECTS = (Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam)
ALL_OBJECTS_DICT = {c.__name__: c for c in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({c.__name__.lower(): c for c in ALL_OBJECTS})
ALIASES = {k: v for k, v in ALL_OBJECTS_DICT.items() if k.islower() and k != "optimizer"}

_REGISTRY = Registry("optimizer", ALL_OBJECTS_DICT, Optimizer,
                     "a minigrad.optimizers.Optimizer")
serialize, deserialize = _REGISTRY.serialize, _REGISTRY.deserialize


def get(identifier) -> Optimizer:
    """An optimizer by Keras name ('adam', 'rmsprop', ... any case), a config dict, or
    an Optimizer instance."""
    if isinstance(identifier, str) and identifier.lower() in ALIASES:
        return ALIASES[identifier.lower()]()
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}; expected "
                     f"one of {sorted(ALIASES)} or a minigrad.optimizers.Optimizer")

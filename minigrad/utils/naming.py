"""Automatic names for layers, losses, metrics and other Keras objects (Keras's rules)."""
from __future__ import annotations

import collections
import re

_uids: collections.Counter = collections.Counter()


def to_snake_case(name: str) -> str:
    """Keras's class name -> name: MeanSquaredError -> mean_squared_error, MLPBlock -> mlp_block."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(prefix: str) -> str:
    """A unique snake-case name: 'mean', then 'mean_1', 'mean_2', ..."""
    name = to_snake_case(prefix)
    count = _uids[name]
    _uids[name] += 1
    return name if count == 0 else f"{name}_{count}"


def get_object_name(obj) -> str:
    """The name Keras logs an object under: its `name`, a function's snake-cased
    `__name__`, or its class's."""
    if hasattr(obj, "name") and isinstance(obj.name, str):
        return obj.name
    if hasattr(obj, "__name__"):
        return to_snake_case(obj.__name__)
    return to_snake_case(type(obj).__name__)

"""Nested structures (lists, tuples, dicts) of tensors, as `keras.tree` handles them.

A dict is walked in sorted key order, as Keras does, so that the flat order of a
model's dict inputs or outputs does not depend on how the dict was written.
"""
from __future__ import annotations

from typing import Any, Callable


def is_nested(structure) -> bool:
    return isinstance(structure, (list, tuple, dict))


def flatten(structure) -> list:
    """The leaves of `structure`, depth first (dict values by sorted key)."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure):
    """The same structure with `fn` applied to every leaf."""
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        mapped = [map_structure(fn, item) for item in structure]
        return mapped if isinstance(structure, list) else type(structure)(mapped) \
            if not hasattr(structure, "_fields") else type(structure)(*mapped)
    return fn(structure)


def pack_sequence_as(structure, flat: list):
    """`flat` (as `flatten(structure)` orders it) poured back into `structure`'s shape."""
    leaves = iter(flat)

    def pack(s):
        if isinstance(s, dict):
            packed = {key: pack(s[key]) for key in sorted(s)}
            return {key: packed[key] for key in s}
        if isinstance(s, (list, tuple)):
            items = [pack(item) for item in s]
            return items if isinstance(s, list) else type(s)(items) \
                if not hasattr(s, "_fields") else type(s)(*items)
        return next(leaves)
    return pack(structure)

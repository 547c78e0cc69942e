"""Shapes (tuples of ints, None where unknown, the batch axis first) and nested
structures of them: checks, formatting, and learning a layer's output shape by
running it."""
from __future__ import annotations

import numpy as np

from .. import tree
from ..tensor import Tensor, no_grad


def check_shape(shape, arg: str, owner: str, allow_none: bool = False) -> tuple:
    """A shape without the batch axis: a tuple of positive ints (or None where allowed)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    ok = isinstance(shape, (tuple, list)) and all(
        (s is None and allow_none) or
        (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0) for s in shape)
    if not ok:
        raise ValueError(f"{owner}: `{arg}` must be a tuple of positive ints"
                         f"{' or None' if allow_none else ''} (without the batch axis), got "
                         f"{shape!r}")
    return tuple(None if s is None else int(s) for s in shape)


def is_shape(shape) -> bool:
    return isinstance(shape, (tuple, list)) and all(
        s is None or isinstance(s, (int, np.integer)) for s in shape)


def shape_of(x):
    return tuple(x.shape) if hasattr(x, "shape") else x


def map_shapes(fn, shapes):
    """fn applied to each shape (a tuple of ints/None) in a nested list/dict of shapes."""
    if is_shape(shapes):
        return fn(tuple(shapes))
    if isinstance(shapes, dict):  # sorted keys: the flat order of tree.flatten
        return {k: map_shapes(fn, shapes[k]) for k in sorted(shapes)}
    return type(shapes)(map_shapes(fn, s) for s in shapes)


def flatten_shapes(shapes) -> list:
    flat = []
    map_shapes(flat.append, shapes)
    return flat


def probe_output_shape(layer, input_shape):
    """Run `layer` on zeros of `input_shape` (no graph) to learn its output shape.
    Unknown sizes (None) are probed as 1 and as 2: an output axis whose size
    differs between the two runs is reported as None."""
    unknown = any(s is None for shape in flatten_shapes(input_shape) for s in shape)

    def run(fill: int):
        inputs = map_shapes(lambda shape: np.zeros(
            tuple(fill if s is None else s for s in shape), layer.dtype), input_shape)
        with no_grad():
            out = layer(inputs)
        return [tuple(x.shape) for x in tree.flatten(out)], out

    first, out = run(1)
    second = run(2)[0] if unknown else first
    merged = [tuple(a if a == b else None for a, b in zip(s1, s2))
              for s1, s2 in zip(first, second)]
    return merged[0] if isinstance(out, Tensor) else tree.pack_sequence_as(out, merged)


def fmt(shape: tuple) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"

"""Keras's reshaping layers: Reshape, Permute, RepeatVector, ZeroPadding2D,
Cropping2D, UpSampling2D."""
from __future__ import annotations

import numbers

import numpy as np

from ..ops import reshaping
from ..utils import pair
from ..utils.argument_checks import MAX_INT
from .base import Layer
from .convolutional import channels_last


def _owner(layer) -> str:
    return f"{type(layer).__name__} {layer.name!r}"


def _int_tuple(value, arg: str, owner: str, minimum: int = 0) -> tuple:
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
            for v in value):
        raise ValueError(f"{owner}: `{arg}` must be a tuple of ints >= {minimum}, got "
                         f"{value!r}")
    if any(v > MAX_INT for v in value):
        raise ValueError(f"{owner}: `{arg}` must hold ints <= {MAX_INT}, got {tuple(value)}")
    return tuple(int(v) for v in value)


def _pairs2d(value, arg: str, owner: str) -> tuple:
    """Keras's 2-D padding/cropping argument -> ((top, bottom), (left, right)): an int,
    2 ints (symmetric height, width), or 2 pairs."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
            value = ((value[0], value[0]), (value[1], value[1]))
        if all(isinstance(v, (tuple, list)) and len(v) == 2 for v in value):
            flat = _int_tuple(tuple(value[0]) + tuple(value[1]), arg, owner)
            return (flat[0], flat[1]), (flat[2], flat[3])
    raise ValueError(f"{owner}: `{arg}` must be an int, a tuple of 2 ints or a tuple of 2 "
                     f"tuples of 2 ints (non-negative), got {value!r}")


class Reshape(Layer):
    """(batch,) + input shape -> (batch,) + target_shape (one -1 inferred)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        shape = (target_shape,) if isinstance(target_shape, numbers.Integral) else target_shape
        shape = _int_tuple(shape, "target_shape", _owner(self), minimum=-1)
        if 0 in shape or shape.count(-1) > 1:
            raise ValueError(f"{_owner(self)}: `target_shape` must hold positive ints and at "
                             f"most one -1, got {target_shape!r}")
        self.target_shape = shape

    def compute_output_shape(self, input_shape):
        size = int(np.prod(input_shape[1:])) if None not in input_shape[1:] else None
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        if size is None:
            return (input_shape[0],) + tuple(None if s == -1 else s for s in self.target_shape)
        if (-1 in self.target_shape and size % known) or \
                (-1 not in self.target_shape and size != known):
            raise ValueError(f"{_owner(self)}: cannot reshape an input of shape "
                             f"{tuple(input_shape[1:])} ({size} values per sample) to "
                             f"`target_shape` {self.target_shape}: expected a shape of "
                             f"{size} values" + (f", a multiple of {known} with the -1"
                                                 if -1 in self.target_shape else ""))
        return (input_shape[0],) + tuple(size // known if s == -1 else s
                                         for s in self.target_shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return inputs.reshape((inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": tuple(self.target_shape)}


class Permute(Layer):
    """Permutes the non-batch axes: dims is a permutation of 1..rank-1 (Keras's)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = _int_tuple(dims, "dims", _owner(self), minimum=1)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"{_owner(self)}: `dims` must be a permutation of 1..{len(dims)}, "
                             f"got {dims}")
        self.dims = dims

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"{_owner(self)}: `dims` {self.dims} permutes {len(self.dims)} "
                             f"axes, but the input has {len(input_shape) - 1} (shape "
                             f"{tuple(input_shape)})")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return inputs.transpose((0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": tuple(self.dims)}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features)."""

    input_ndim = 2

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{_owner(self)}: `n` must be a positive int, got {n!r}")
        if n > MAX_INT:
            raise ValueError(f"{_owner(self)}: `n` must be <= {MAX_INT}, got {n}")
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        b, f = inputs.shape
        return inputs.reshape(b, 1, f) * np.ones((1, self.n, 1), inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class ZeroPadding2D(Layer):
    """Zeros around the image: padding an int, (h, w) or ((top, bottom), (left, right))."""

    input_ndim = 4

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        channels_last(data_format, _owner(self))
        self.padding = _pairs2d(padding, "padding", _owner(self))

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        (t, b), (l, r) = self.padding
        n, h, w, c = input_shape
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def call(self, inputs):
        return reshaping.pad(inputs, ((0, 0),) + self.padding + ((0, 0),), name=_owner(self))

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class Cropping2D(Layer):
    """Removes rows and columns at the edges: cropping an int, (h, w) or ((top, bottom),
    (left, right))."""

    input_ndim = 4

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        channels_last(data_format, _owner(self))
        self.cropping = _pairs2d(cropping, "cropping", _owner(self))

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        n, h, w, c = input_shape
        out = []
        for axis, size, (before, after) in (("height", h, self.cropping[0]),
                                            ("width", w, self.cropping[1])):
            if size is not None and before + after >= size:
                raise ValueError(f"{_owner(self)}: `cropping` {self.cropping} removes "
                                 f"{before + after} of the input's {size} {axis} pixels; "
                                 f"expected fewer (input shape {tuple(input_shape)})")
            out.append(None if size is None else size - before - after)
        return (n, out[0], out[1], c)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return reshaping.crop(inputs, ((0, 0),) + self.cropping + ((0, 0),), name=_owner(self))

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}


class UpSampling2D(Layer):
    """Repeats rows and columns by `size` ('nearest') or interpolates ('bilinear')."""

    input_ndim = 4

    def __init__(self, size=(2, 2), data_format=None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        channels_last(data_format, _owner(self))
        self.size = pair(size, "size", _owner(self))
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{_owner(self)}: `interpolation` must be 'nearest' or "
                             f"'bilinear', got {interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0],
                None if w is None else w * self.size[1], c)

    def call(self, inputs):
        if self.interpolation == "nearest":
            return reshaping.upsample_nearest(inputs, self.size)
        return reshaping.upsample_bilinear(inputs, self.size)

    def get_config(self):
        return {**super().get_config(), "size": tuple(self.size),
                "interpolation": self.interpolation}

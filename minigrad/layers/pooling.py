"""Keras's pooling layers beyond MaxPooling2D: AveragePooling2D, the global pools,
and the 1-D forms. A 1-D input (batch, steps, features) runs as a 2-D one of
width 1; a global pool is a pool whose window is the whole input."""
from __future__ import annotations

from .. import ops
from ..tensor import Tensor
from ..utils import padding_mode
from .base import Layer
from .convolutional import channels_last
from .core import MaxPooling2D


def _one(value, arg: str, owner: str) -> int:
    """A 1-D pool's int argument (an int or a 1-tuple, as Keras takes)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: `{arg}` must be a positive int (or a tuple of one), got "
                         f"{value!r}")
    return value


class AveragePooling2D(MaxPooling2D):
    """The mean over pool_size windows (NHWC); 'same' padding is not counted."""

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        geom = ops.pool2d_geometry(input_shape, self.pool_size, self.strides, self.padding,
                                   name=f"AveragePooling2D {self.name!r}")
        return (input_shape[0], geom.oh, geom.ow, input_shape[3])

    def call(self, inputs):
        return ops.avg_pool2d(inputs, self.pool_size, self.strides, self.padding,
                              name=f"AveragePooling2D {self.name!r}")


class _Pool1D(Layer):
    input_ndim = 3
    average = False

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} {self.name!r}"
        self.pool_size = _one(pool_size, "pool_size", owner)
        self.strides = self.pool_size if strides is None else _one(strides, "strides", owner)
        self.padding = padding_mode(padding, owner)
        channels_last(data_format, owner)

    def _geometry(self, shape):
        n, steps, c = shape
        return ops.pool2d_geometry((n, steps, 1, c), (self.pool_size, 1), (self.strides, 1),
                                   self.padding, name=f"{type(self).__name__} {self.name!r}")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        return (input_shape[0], self._geometry(input_shape).oh, input_shape[2])

    def call(self, inputs):
        n, steps, c = inputs.shape
        pool = ops.avg_pool2d if self.average else ops.max_pool2d
        y = pool(inputs.reshape(n, steps, 1, c), (self.pool_size, 1), (self.strides, 1),
                 self.padding, name=f"{type(self).__name__} {self.name!r}")
        return y.reshape(n, y.shape[1], c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling1D(_Pool1D):
    """The max over windows of pool_size steps (batch, steps, features)."""


class AveragePooling1D(_Pool1D):
    """The mean over windows of pool_size steps; 'same' padding is not counted."""
    average = True


class _GlobalPool(Layer):
    """Pools over every axis but the batch and the channels (the last)."""

    average = False

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} {self.name!r}"
        channels_last(data_format, owner)
        if not isinstance(keepdims, bool):
            raise TypeError(f"{owner}: `keepdims` must be a bool, got {keepdims!r}")
        self.keepdims = keepdims

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        n, c = input_shape[0], input_shape[-1]
        return (n,) + (1,) * (len(input_shape) - 2) + (c,) if self.keepdims else (n, c)

    def call(self, inputs: Tensor):
        if self.average:  # Keras's mean: 4-5x faster than a window-sized average pool
            axes = tuple(range(1, inputs.ndim - 1))  # (benchmarks/README.md, "Global")
            return ops.mean(inputs, axis=axes, keepdims=self.keepdims)
        n, c = inputs.shape[0], inputs.shape[-1]
        x = inputs if inputs.ndim == 4 else inputs.reshape(n, inputs.shape[1], 1, c)
        y = ops.max_pool2d(x, x.shape[1:3], None, "valid",
                           name=f"{type(self).__name__} {self.name!r}")
        return y.reshape(self.compute_output_shape((n,) + inputs.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPool):
    """(batch, h, w, c) -> (batch, c): the mean over every position."""
    input_ndim = 4
    average = True


class GlobalMaxPooling2D(_GlobalPool):
    """(batch, h, w, c) -> (batch, c): the max over every position (NaN wins)."""
    input_ndim = 4


class GlobalAveragePooling1D(_GlobalPool):
    """(batch, steps, features) -> (batch, features): the mean over the steps."""
    input_ndim = 3
    average = True


class GlobalMaxPooling1D(_GlobalPool):
    """(batch, steps, features) -> (batch, features): the max over the steps."""
    input_ndim = 3

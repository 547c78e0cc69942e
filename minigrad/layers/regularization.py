"""Keras's regularisation layers beyond Dropout: SpatialDropout2D, GaussianNoise."""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops, random, regularizers
from ..tensor import Tensor
from .base import Layer
from .convolutional import channels_last


def _seed(seed, owner: str):
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)
                             or seed < 0):
        raise TypeError(f"{owner}: `seed` must be None or a non-negative int, got {seed!r}")
    return None if seed is None else int(seed)


class _Noise(Layer):
    """A training-only random layer with Dropout's seeding: a layer seed of its own
    makes its draws independent of minigrad.random."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _seed(seed, f"{type(self).__name__} {self.name!r}")
        self._rng = None if self.seed is None else np.random.default_rng(self.seed)

    def _generator(self) -> np.random.Generator:
        return random.generator() if self._rng is None else self._rng

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class SpatialDropout2D(_Noise):
    """Dropout of whole channels: each (sample, channel) is kept or zeroed for every
    position at once, the kept ones scaled by 1 / (1 - rate)."""

    input_ndim = 4

    def __init__(self, rate: float, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = f"SpatialDropout2D {self.name!r}"
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"{owner}: `rate` must be a float in [0, 1), got {rate!r}")
        channels_last(data_format, owner)
        self.rate = float(rate)

    def call(self, inputs: Tensor, training=False):
        if not training or self.rate == 0:
            return inputs
        n, c = inputs.shape[0], inputs.shape[3]
        ones = Tensor(np.ones((n, 1, 1, c), inputs.dtype), device=inputs.device)
        seed = int(self._generator().integers(0, 2**63 - 1))
        mask = ops.dropout(ones, self.rate, training=True, seed=seed,
                           name=f"SpatialDropout2D {self.name!r}")
        return inputs * mask

    def get_config(self):
        """Keras 3's keys: its SpatialDropout2D takes no `trainable`."""
        config = {k: v for k, v in super().get_config().items() if k != "trainable"}
        return {**config, "rate": self.rate, "data_format": "channels_last"}


class GaussianNoise(_Noise):
    """Adds N(0, stddev**2) noise while training (identity otherwise)."""

    def __init__(self, stddev: float, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or \
                not 0 <= stddev <= 1:
            raise ValueError(f"GaussianNoise {self.name!r}: `stddev` must be a float in "
                             f"[0, 1], got {stddev!r}")
        self.stddev = float(stddev)

    def call(self, inputs: Tensor, training=False):
        if not training or self.stddev == 0:
            return inputs
        noise = self._generator().normal(0.0, self.stddev, inputs.shape).astype(inputs.dtype)
        return inputs + Tensor(noise, device=inputs.device)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class ActivityRegularization(Layer):
    """Passes its input through; its activity regularizer, L1L2(l1, l2), adds
    (l1 * sum|x| + l2 * sum(x**2)) / batch size to the training loss, as Keras 3's."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        owner = f"ActivityRegularization {kwargs.get('name', '')!r}"
        for arg, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not value >= 0:
                raise ValueError(f"{owner}: `{arg}` must be a number >= 0, got {value!r}")
        kwargs.pop("activity_regularizer", None)  # from a saved config: rebuilt from l1, l2
        super().__init__(activity_regularizer=regularizers.L1L2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs: Tensor):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)  # made from l1 and l2, as Keras's
        return {**config, "l1": self.l1, "l2": self.l2}

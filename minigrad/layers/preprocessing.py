"""Keras's numeric preprocessing layers: Rescaling, Normalization (with adapt)."""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor
from .base import Layer

EPSILON = 1e-7  # keras.backend.epsilon(): the least standard deviation Normalization divides by


class Rescaling(Layer):
    """inputs * scale + offset."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            arr = np.asarray(value)
            if arr.dtype.kind not in "iuf" or not np.all(np.isfinite(arr)):
                raise ValueError(f"Rescaling {self.name!r}: `{arg}` must be a finite number "
                                 f"(or array), got {value!r}")
        self.scale, self.offset = scale, offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs: Tensor):
        return inputs * np.asarray(self.scale, inputs.dtype) + \
            np.asarray(self.offset, inputs.dtype)

    def get_config(self):
        def plain(v):
            return v.tolist() if isinstance(v, np.ndarray) else v
        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


class Normalization(Layer):
    """(x - mean) / max(sqrt(variance), 1e-7) per position of `axis` (None: one mean and
    variance over everything); mean and variance given, or learnt by `adapt(data)`
    into non-trainable weights (mean, variance, count). invert=True undoes it."""

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        owner = f"Normalization {self.name!r}"
        axes = () if axis is None else (axis,) if isinstance(axis, numbers.Integral) else axis
        if not isinstance(axes, (tuple, list)) or not all(
                isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
            raise TypeError(f"{owner}: `axis` must be None, an int or a tuple of ints, got "
                            f"{axis!r}")
        self.axis = tuple(int(a) for a in axes)
        if (mean is None) != (variance is None):
            raise ValueError(f"{owner}: give both `mean` and `variance` or neither, got "
                             f"mean={mean!r}, variance={variance!r}")
        if mean is not None and np.shape(mean) != np.shape(variance):
            raise ValueError(f"{owner}: `mean` and `variance` must have one shape, got "
                             f"{np.shape(mean)} and {np.shape(variance)}")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self.adapt_mean = self.adapt_variance = self.count = None

    def build(self, input_shape):
        owner = f"Normalization {self.name!r}"
        nd = len(input_shape)
        if any(not -nd <= a < nd for a in self.axis):
            raise ValueError(f"{owner}: every `axis` must be in [-{nd}, {nd}) for an input of "
                             f"shape {tuple(input_shape)}, got axis={self.axis}")
        self._keep = tuple(sorted(a % nd for a in self.axis))
        if any(input_shape[a] is None for a in self._keep):
            raise ValueError(f"{owner}: the kept axes {self._keep} must have known sizes, got "
                             f"input shape {tuple(input_shape)}")
        self._reduce = tuple(a for a in range(nd) if a not in self._keep)
        self._broadcast = tuple(input_shape[a] if a in self._keep else 1 for a in range(nd))
        shape = tuple(input_shape[a] for a in self._keep)
        self._built_shape = tuple(input_shape)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=shape, initializer="zeros",
                                              trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=shape,
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), initializer="zeros",
                                         trainable=False)
        self._input_spec = (nd, {a: input_shape[a] for a in self._keep})

    def _stats(self, dtype) -> tuple:
        if self.input_mean is not None:
            mean = np.broadcast_to(np.asarray(self.input_mean, dtype), self._broadcast)
            var = np.broadcast_to(np.asarray(self.input_variance, dtype), self._broadcast)
            return mean, var
        return (self.adapt_mean.reshape(self._broadcast),
                self.adapt_variance.reshape(self._broadcast))

    def adapt(self, data) -> None:
        """Set mean and variance from data: an array, or an iterable of batches
        (combined as Keras does)."""
        batches = [data] if isinstance(data, (np.ndarray, Tensor)) else list(data)
        if not batches:
            raise ValueError(f"Normalization {self.name!r}: adapt() received no data")
        arrays = [np.asarray(b.numpy() if isinstance(b, Tensor) else b, np.float64)
                  for b in batches]
        if not self.built:
            self.ensure_built(arrays[0].shape)
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r}: adapt() cannot change a mean and "
                             f"variance given to the constructor")
        mean = var = None
        total = 0
        for a in arrays:
            if a.ndim != len(self._built_shape) or any(
                    a.shape[k] != self._built_shape[k] for k in self._keep):
                raise ValueError(f"Normalization {self.name!r}: adapt() data of shape "
                                 f"{a.shape} does not fit the layer built for "
                                 f"{self._built_shape}")
            bm, bv = a.mean(axis=self._reduce), a.var(axis=self._reduce)
            n = int(np.prod([a.shape[k] for k in self._reduce]))
            total += n
            if mean is None:
                mean, var = bm, bv
                continue
            w = n / total
            new = mean * (1 - w) + bm * w
            var = (var + (mean - new) ** 2) * (1 - w) + (bv + (bm - new) ** 2) * w
            mean = new
        self.adapt_mean.data = Tensor(np.asarray(mean), device=self.device,
                                      dtype=self.adapt_mean.dtype).data
        self.adapt_variance.data = Tensor(np.asarray(var), device=self.device,
                                          dtype=self.adapt_variance.dtype).data

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs: Tensor):
        mean, var = self._stats(inputs.dtype)
        std = (var ** 0.5).clip(EPSILON, np.inf) if isinstance(var, Tensor) else \
            np.maximum(np.sqrt(var), EPSILON).astype(inputs.dtype)
        if self.invert:
            return inputs * std + mean
        return (inputs - mean) / std

    def get_config(self):
        def plain(v):
            return np.asarray(v).tolist() if v is not None else None
        return {**super().get_config(), "axis": list(self.axis) or None,
                "mean": plain(self.input_mean), "variance": plain(self.input_variance),
                "invert": self.invert}

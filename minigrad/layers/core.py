"""Keras's core layers: Conv2D, MaxPooling2D, Dense, Flatten, Dropout, ReLU, Activation."""
from __future__ import annotations

import numbers

import numpy as np

from .. import activations, initializers, ops, regularizers
from ..tensor import Tensor
from ..utils import pair, padding_mode
from .base import Layer


def _positive_int(value, arg: str, owner: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{owner}: `{arg}` must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: `{arg}` must be a positive int, got {value!r}")
    return int(value)


def _bool(value, arg: str, owner: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: `{arg}` must be a bool, got {value!r}")
    return bool(value)


class _WithActivation(Layer):
    """A layer computing activation(pre_activation(x)); the model may fuse softmax."""

    fuses_relu = False  # True where the op applies ReLU in its bias pass

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, f"{type(self).__name__} {self.name!r}")

    def pre_activation(self, x: Tensor, activation: str | None = None) -> Tensor:
        """The layer's output before its activation (or with ReLU fused in)."""
        raise NotImplementedError

    def call(self, inputs: Tensor) -> Tensor:
        if self.activation is activations.relu and self.fuses_relu:
            return self.pre_activation(inputs, "relu")
        return self.activation(self.pre_activation(inputs))

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class _KernelBias(_WithActivation):
    """A kernel and (use_bias) a bias, with Keras's initializer and regularizer arguments."""

    def __init__(self, activation=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        owner = f"{type(self).__name__} {self.name!r}"
        self.kernel_initializer = initializers.get(kernel_initializer, owner)
        self.bias_initializer = initializers.get(bias_initializer, owner)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if kernel_constraint is not None or bias_constraint is not None:
            raise NotImplementedError(f"{owner}: weight constraints are not supported by "
                                      f"minigrad")

    def _make_kernel_and_bias(self, kernel_shape: tuple, units: int) -> None:
        self.kernel = self.add_weight(shape=kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, name="kernel")
        self.bias = self.add_weight(shape=(units,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer, name="bias") \
            if self.use_bias else None

    def get_config(self) -> dict:
        config = {**super().get_config(),
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer)}
        for arg in ("kernel_regularizer", "bias_regularizer"):
            if getattr(self, arg) is not None:
                config[arg] = regularizers.serialize(getattr(self, arg))
        return config


class Conv2D(_KernelBias):
    """2-D convolution over NHWC images; kernel (kh, kw, in_channels, filters)."""

    input_ndim = 4

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate=(1, 1), groups: int = 1,
                 activation=None, use_bias: bool = True, **kwargs):
        super().__init__(activation=activation, **kwargs)
        owner = f"Conv2D {self.name!r}"
        self.filters = _positive_int(filters, "filters", owner)
        self.groups = _positive_int(groups, "groups", owner)
        if self.filters % self.groups:
            raise ValueError(f"{owner}: `filters` must be divisible by `groups`, got "
                             f"filters={filters}, groups={groups}")
        self.kernel_size = pair(kernel_size, "kernel_size", owner)
        self.strides = pair(strides, "strides", owner)
        self.padding = padding_mode(padding, owner)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' (NHWC) is supported, "
                             f"got {data_format!r}")
        self.dilation_rate = pair(dilation_rate, "dilation_rate", owner)
        self.use_bias = _bool(use_bias, "use_bias", owner)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # rejects a kernel larger than the input
        kh, kw = self.kernel_size
        if input_shape[-1] % self.groups:
            raise ValueError(f"Conv2D {self.name!r}: the input's channels must be divisible "
                             f"by `groups`, got groups={self.groups} and input shape "
                             f"{tuple(input_shape)}")
        self._make_kernel_and_bias((kh, kw, input_shape[-1] // self.groups, self.filters),
                                   self.filters)

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        geom = ops.conv2d_geometry(input_shape, self.kernel_size, self.strides, self.padding,
                                   self.dilation_rate, name=f"Conv2D {self.name!r}")
        return (input_shape[0], geom.oh, geom.ow, self.filters)

    fuses_relu = True

    def pre_activation(self, x, activation=None):
        return self.convolve(x, self.kernel, self.bias, activation)

    def convolve(self, x, kernel, bias, activation=None):
        """This layer's convolution of x with the given kernel and bias (BN folding
        passes folded ones)."""
        name = f"Conv2D {self.name!r}"
        if self.groups > 1:
            return ops.grouped_conv2d(x, kernel, bias, self.strides, self.padding,
                                      self.dilation_rate, self.groups, name=name,
                                      activation=activation)
        return ops.conv2d(x, kernel, bias, self.strides, self.padding, self.dilation_rate,
                          name=name, activation=activation)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": tuple(self.kernel_size), "strides": tuple(self.strides),
                "padding": self.padding, "dilation_rate": tuple(self.dilation_rate),
                "groups": self.groups, "use_bias": self.use_bias}


class MaxPooling2D(Layer):
    """Max over pool_size windows (NHWC); strides default to pool_size."""

    input_ndim = 4

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid",
                 data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} {self.name!r}"
        self.pool_size = pair(pool_size, "pool_size", owner)
        self.strides = self.pool_size if strides is None else pair(strides, "strides", owner)
        self.padding = padding_mode(padding, owner)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' (NHWC) is supported, "
                             f"got {data_format!r}")

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        geom = ops.pool2d_geometry(input_shape, self.pool_size, self.strides, self.padding,
                                   name=f"MaxPooling2D {self.name!r}")
        return (input_shape[0], geom.oh, geom.ow, input_shape[3])

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return ops.max_pool2d(inputs, self.pool_size, self.strides, self.padding,
                              name=f"MaxPooling2D {self.name!r}")

    def get_config(self):
        return {**super().get_config(), "pool_size": tuple(self.pool_size),
                "strides": tuple(self.strides), "padding": self.padding}


class Dense(_KernelBias):
    """activation(x @ kernel + bias) over the last axis; kernel (in_features, units)."""

    min_ndim = 2

    def __init__(self, units: int, activation=None, use_bias: bool = True, **kwargs):
        super().__init__(activation=activation, **kwargs)
        owner = f"Dense {self.name!r}"
        self.units = _positive_int(units, "units", owner)
        self.use_bias = _bool(use_bias, "use_bias", owner)

    def build(self, input_shape):
        self._make_kernel_and_bias((input_shape[-1], self.units), self.units)

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        return tuple(input_shape[:-1]) + (self.units,)

    fuses_relu = True

    def pre_activation(self, x, activation=None):
        lead = x.shape[:-1]
        if x.ndim != 2:  # Keras applies Dense to the last axis of any rank
            x = x.reshape(-1, x.shape[-1])
        y = ops.dense(x, self.kernel, self.bias, name=f"Dense {self.name!r}",
                      activation=activation)
        return y if len(lead) == 1 else y.reshape(*lead, self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...)."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)) if rest else 1)

    def call(self, inputs):
        return inputs.reshape(inputs.shape[0], -1)


class Dropout(Layer):
    """Zero a `rate` fraction of inputs while training, scaling the rest by 1/(1-rate)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"Dropout {self.name!r}: `rate` must be a float in [0, 1), "
                             f"got {rate!r}")
        if seed is not None and (not isinstance(seed, numbers.Integral) or
                                 isinstance(seed, bool) or seed < 0):
            raise TypeError(f"Dropout {self.name!r}: `seed` must be None or a non-negative "
                            f"int, got {seed!r}")
        self.rate, self.seed = float(rate), None if seed is None else int(seed)
        # with a seed of its own the layer's masks do not depend on minigrad.random
        self._rng = None if seed is None else np.random.default_rng(seed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        # draw only when a mask is made, so predict/evaluate leave the stream alone
        seed = None if self._rng is None or not training or self.rate == 0 else \
            int(self._rng.integers(0, 2**63 - 1))
        return ops.dropout(inputs, self.rate, training=training, seed=seed,
                           name=f"Dropout {self.name!r}")

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Activation(_WithActivation):
    """Applies a named activation ('relu', 'softmax', 'sigmoid', 'tanh', 'linear')."""

    def __init__(self, activation, **kwargs):
        super().__init__(activation=activation, **kwargs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def pre_activation(self, x, activation=None):
        return x


class ReLU(Activation):
    """max(x, 0); with Keras's options, capped at max_value, and below threshold
    negative_slope * (x - threshold) instead of 0 (keras.activations.relu)."""

    def __init__(self, max_value=None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs):
        if "activation" in kwargs:  # Keras's ReLU has no such argument: never ignore one
            raise TypeError("ReLU: unexpected keyword argument(s) ['activation']")
        for arg, value, ok in (("max_value", max_value, max_value is None or (
                                    isinstance(max_value, numbers.Real) and max_value >= 0)),
                               ("negative_slope", negative_slope,
                                isinstance(negative_slope, numbers.Real) and negative_slope >= 0),
                               ("threshold", threshold, isinstance(threshold, numbers.Real))):
            if not ok or isinstance(value, bool):
                want = {"max_value": "a number >= 0 or None", "negative_slope": "a number >= 0",
                        "threshold": "a number"}[arg]
                raise ValueError(f"ReLU: `{arg}` must be {want}, got {value!r}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold
        plain = max_value is None and negative_slope == 0 and threshold == 0
        super().__init__("relu" if plain else self._relu, **kwargs)

    def _relu(self, x):
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)

    def get_config(self):
        config = Layer.get_config(self)  # no `activation`: Keras's ReLU has none
        return {**config, "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


def can_fuse_conv_pool(conv: Layer, pool: Layer) -> bool:
    """Conv2D (ReLU or no activation) straight into MaxPooling2D: one fused op."""
    return (type(conv) is Conv2D and type(pool) is MaxPooling2D and conv.groups == 1 and
            conv.activation in (activations.relu, activations.linear) and
            conv.activity_regularizer is None)  # the regularizer needs conv's own output


def conv_pool(conv: "Conv2D", pool: "MaxPooling2D", x: Tensor) -> Tensor:
    """pool(conv(x)) through ops.conv2d_maxpool; both layers checked and built as if
    called one after the other."""
    conv.ensure_built(x.shape)
    pool.ensure_built(conv.compute_output_shape(x.shape))
    return ops.conv2d_maxpool(
        x, conv.kernel, conv.bias, conv.strides, conv.padding, conv.dilation_rate,
        "relu" if conv.activation is activations.relu else None, pool.pool_size,
        pool.strides, pool.padding, name=f"Conv2D {conv.name!r} + MaxPooling2D {pool.name!r}")

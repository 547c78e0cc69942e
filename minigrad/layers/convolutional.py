"""Keras's convolutions beyond Conv2D: Conv1D, DepthwiseConv2D, SeparableConv2D and
Conv2DTranspose (NHWC / (batch, steps, channels); Keras's weight shapes)."""
from __future__ import annotations

from .. import initializers, ops
from ..ops.conv1d import conv1d, conv1d_geometry
from ..ops.conv_transpose import conv2d_transpose_geometry, output_size
from ..utils import pair, padding_mode
from ..utils.argument_checks import MAX_INT
from .core import _bool, _positive_int, _WithActivation


def channels_last(data_format, owner: str) -> None:
    """Only NHWC: data_format None or 'channels_last', else a ValueError."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{owner}: only data_format='channels_last' is supported, got "
                         f"{data_format!r}")


def _int1(value, arg: str, owner: str) -> int:
    """A 1-D layer's int argument: an int or a tuple of one."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    value = _positive_int(value, arg, owner)
    if value > MAX_INT:  # a 2**64 stride would reach the kernels as a Numba TypingError
        raise ValueError(f"{owner}: `{arg}` must be <= {MAX_INT}, got {value}")
    return value


class _Conv(_WithActivation):
    """The shared arguments: activation, use_bias, the initializers, data_format."""

    fuses_relu = True

    def __init__(self, activation=None, use_bias: bool = True, bias_initializer="zeros",
                 data_format=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self._owner = f"{type(self).__name__} {self.name!r}"
        channels_last(data_format, self._owner)
        self.use_bias = _bool(use_bias, "use_bias", self._owner)
        self.bias_initializer = initializers.get(bias_initializer, self._owner)

    def _bias(self, units: int):
        return self.add_weight(name="bias", shape=(units,), initializer=self.bias_initializer) \
            if self.use_bias else None

    def get_config(self):
        return {**super().get_config(), "use_bias": self.use_bias,
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); kernel (kernel_size, channels /
    groups, filters); padding 'valid', 'same' or 'causal'."""

    input_ndim = 3

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format=None, dilation_rate=1, groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(activation, use_bias, bias_initializer, data_format, **kwargs)
        o = self._owner
        self.filters = _positive_int(filters, "filters", o)
        self.kernel_size = _int1(kernel_size, "kernel_size", o)
        self.strides = _int1(strides, "strides", o)
        self.dilation_rate = _int1(dilation_rate, "dilation_rate", o)
        self.groups = _positive_int(groups, "groups", o)
        if not (isinstance(padding, str) and padding.lower() == "causal"):
            padding = padding_mode(padding, o)
        self.padding = padding.lower()
        if self.filters % self.groups:
            raise ValueError(f"{o}: `filters` must be divisible by `groups`, got "
                             f"filters={filters}, groups={groups}")
        self.kernel_initializer = initializers.get(kernel_initializer, o)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        if input_shape[-1] % self.groups:
            raise ValueError(f"{self._owner}: the input's channels must be divisible by "
                             f"`groups`, got groups={self.groups} and input shape "
                             f"{tuple(input_shape)}")
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, input_shape[-1] // self.groups,
                                  self.filters), initializer=self.kernel_initializer)
        self.bias = self._bias(self.filters)

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        geom = conv1d_geometry(input_shape, self.kernel_size, self.strides, self.padding,
                               self.dilation_rate, self._owner)
        return (input_shape[0], geom.oh, self.filters)

    def pre_activation(self, x, activation=None):
        return conv1d(x, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                      self.groups, activation=activation, name=self._owner)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate,
                "groups": self.groups,
                "kernel_initializer": initializers.serialize(self.kernel_initializer)}


class _Conv2DBase(_Conv):
    input_ndim = 4

    def __init__(self, kernel_size, strides=(1, 1), padding: str = "valid",
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(**kwargs)
        o = self._owner
        self.kernel_size = pair(kernel_size, "kernel_size", o)
        self.strides = pair(strides, "strides", o)
        self.padding = padding_mode(padding, o)
        self.dilation_rate = pair(dilation_rate, "dilation_rate", o)

    def _geometry(self, input_shape):
        self._check_rank(tuple(input_shape))
        return ops.conv2d_geometry(input_shape, self.kernel_size, self.strides, self.padding,
                                   self.dilation_rate, name=self._owner)

    def get_config(self):
        return {**super().get_config(), "kernel_size": tuple(self.kernel_size),
                "strides": tuple(self.strides), "padding": self.padding,
                "dilation_rate": tuple(self.dilation_rate)}


class DepthwiseConv2D(_Conv2DBase):
    """Each input channel convolved with its own depth_multiplier filters; kernel
    (kh, kw, channels, depth_multiplier), output channels channels * depth_multiplier."""

    def __init__(self, kernel_size, strides=(1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format=None, dilation_rate=(1, 1),
                 activation=None, use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation=activation,
                         use_bias=use_bias, bias_initializer=bias_initializer,
                         data_format=data_format, **kwargs)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", self._owner)
        self.depthwise_initializer = initializers.get(depthwise_initializer, self._owner)

    def build(self, input_shape):
        self._geometry(input_shape)
        c = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (
            c, self.depth_multiplier), initializer=self.depthwise_initializer)
        self.bias = self._bias(c * self.depth_multiplier)

    def compute_output_shape(self, input_shape):
        geom = self._geometry(input_shape)
        return (input_shape[0], geom.oh, geom.ow, input_shape[-1] * self.depth_multiplier)

    def pre_activation(self, x, activation=None):
        return ops.depthwise_conv2d(x, self.kernel, self.bias, self.strides, self.padding,
                                    self.dilation_rate, activation=activation,
                                    name=self._owner)

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer)}


class SeparableConv2D(_Conv2DBase):
    """A depthwise conv (kh, kw, channels, depth_multiplier) then a pointwise 1x1 conv
    (1, 1, channels * depth_multiplier, filters), then the bias."""

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 data_format=None, dilation_rate=(1, 1), depth_multiplier: int = 1,
                 activation=None, use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation=activation,
                         use_bias=use_bias, bias_initializer=bias_initializer,
                         data_format=data_format, **kwargs)
        o = self._owner
        self.filters = _positive_int(filters, "filters", o)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", o)
        self.depthwise_initializer = initializers.get(depthwise_initializer, o)
        self.pointwise_initializer = initializers.get(pointwise_initializer, o)

    def build(self, input_shape):
        self._geometry(input_shape)
        m = input_shape[-1] * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (input_shape[-1],
                                                               self.depth_multiplier),
            initializer=self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1, 1, m, self.filters),
            initializer=self.pointwise_initializer)
        self.bias = self._bias(self.filters)

    def compute_output_shape(self, input_shape):
        geom = self._geometry(input_shape)
        return (input_shape[0], geom.oh, geom.ow, self.filters)

    def pre_activation(self, x, activation=None):
        depthwise = ops.depthwise_conv2d(x, self.depthwise_kernel, None, self.strides,
                                         self.padding, self.dilation_rate, name=self._owner)
        return ops.conv2d(depthwise, self.pointwise_kernel, self.bias, name=self._owner,
                          activation=activation)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer)}


class Conv2DTranspose(_Conv2DBase):
    """The transpose (adjoint) of a Conv2D: kernel (kh, kw, filters, in_channels);
    output size as Keras: 'same' -> size * strides, 'valid' -> (size - 1) * strides +
    max(kernel, strides), or set by output_padding."""

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation=activation,
                         use_bias=use_bias, bias_initializer=bias_initializer,
                         data_format=data_format, **kwargs)
        o = self._owner
        self.filters = _positive_int(filters, "filters", o)
        self.output_padding = None if output_padding is None else \
            pair(output_padding, "output_padding", o, minimum=0)
        self.kernel_initializer = initializers.get(kernel_initializer, o)
        conv2d_transpose_geometry((1, 1, 1, 1), self.kernel_size, self.strides, self.padding,
                                  self.output_padding, self.dilation_rate, o)  # checks

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (
            self.filters, input_shape[-1]), initializer=self.kernel_initializer)
        self.bias = self._bias(self.filters)

    def compute_output_shape(self, input_shape):
        self._check_rank(tuple(input_shape))
        oh, ow = output_size(input_shape, self.kernel_size, self.strides, self.padding,
                             self.output_padding, self.dilation_rate)
        return (input_shape[0], oh, ow, self.filters)

    def pre_activation(self, x, activation=None):
        return ops.conv2d_transpose(x, self.kernel, self.bias, self.strides, self.padding,
                                    self.output_padding, self.dilation_rate,
                                    activation=activation, name=self._owner)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "output_padding": None if self.output_padding is None else
                tuple(self.output_padding),
                "kernel_initializer": initializers.serialize(self.kernel_initializer)}

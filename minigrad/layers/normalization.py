"""Keras's normalisation layers: BatchNormalization, LayerNormalization; and the
folding of a BatchNormalization into the Conv2D before it at inference."""
from __future__ import annotations

import numbers

from .. import initializers, ops
from ..backends import get_backend
from ..ops import activations
from ..ops.normalization import batch_normalization, batch_normalization_training, pool_fits
from ..tensor import Tensor, no_grad
from .base import Layer
from .core import Activation, Conv2D, MaxPooling2D


def _number(value, arg: str, owner: str, low: float, high: float | None = None,
            low_open: bool = False) -> float:
    """A real number in [low, high] (or (low, ...) if low_open), else a ValueError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        want = f"{'>' if low_open else '>='} {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{owner}: `{arg}` must be a number {want}, got {value!r}")
    return float(value)


def _flag(value, arg: str, owner: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: `{arg}` must be a bool, got {value!r}")
    return value


def _unsupported(owner: str, **options) -> None:
    """Keras arguments minigrad takes only at their default (None / False)."""
    for arg, value in options.items():
        if value not in (None, False):
            raise ValueError(f"{owner}: `{arg}` is not supported by minigrad; got {value!r} "
                             f"(expected None)")


def _axis(axis, rank: int, owner: str) -> int:
    """A valid axis of a rank-`rank` input (batch included), as a non-negative index."""
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"{owner}: `axis` must be an int, got {axis!r}")
    if not -rank <= axis < rank or axis % rank == 0:
        raise ValueError(f"{owner}: `axis` must be a non-batch axis of the input, in "
                         f"[{-rank}, {rank}) and not the batch axis 0; got axis={axis} for an "
                         f"input of rank {rank}")
    return int(axis) % rank


class BatchNormalization(Layer):
    """Normalises each channel of `axis` with the batch's mean and variance while
    training, and with their moving averages otherwise (Keras 3). The moving
    averages are non-trainable weights, updated only by a training call:
    `moving = moving * momentum + batch * (1 - momentum)`. With `trainable=False`
    the layer runs in inference mode even while training (Keras 3's rule for
    fine-tuning)."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized: bool = False, renorm: bool = False, renorm_clipping=None,
                 renorm_momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        owner = f"BatchNormalization {self.name!r}"
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise TypeError(f"{owner}: `axis` must be an int, got {axis!r}")
        self.axis = int(axis)
        self.momentum = _number(momentum, "momentum", owner, 0.0, 1.0)
        self.epsilon = _number(epsilon, "epsilon", owner, 0.0, low_open=True)
        self.center, self.scale = _flag(center, "center", owner), _flag(scale, "scale", owner)
        _unsupported(owner, beta_regularizer=beta_regularizer,
                     gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                     gamma_constraint=gamma_constraint, synchronized=synchronized,
                     renorm=renorm, renorm_clipping=renorm_clipping)
        self.renorm_momentum = renorm_momentum
        self.beta_initializer = initializers.get(beta_initializer, owner)
        self.gamma_initializer = initializers.get(gamma_initializer, owner)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer, owner)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer, owner)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        owner = f"BatchNormalization {self.name!r}"
        axis = _axis(self.axis, len(input_shape), owner)
        c = input_shape[axis]
        if c is None:
            raise ValueError(f"{owner}: the size of axis {self.axis} must be known when the "
                             f"layer is built, got input shape {tuple(input_shape)}")
        self._axis_index = axis
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=(c,),
                                         initializer=self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight(name="beta", shape=(c,),
                                        initializer=self.beta_initializer)
        self.moving_mean = self.add_weight(name="moving_mean", shape=(c,),
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(c,),
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self._input_spec = (len(input_shape), {axis: c})

    def compute_output_shape(self, input_shape):
        _axis(self.axis, len(input_shape), f"BatchNormalization {self.name!r}")
        return tuple(input_shape)

    def call(self, inputs, training=None):
        name = f"BatchNormalization {self.name!r}"
        if training and self.trainable:
            y, mean, var = batch_normalization_training(
                inputs, self.gamma, self.beta, self.axis, self.epsilon, name=name)
            self._update_moving(self.moving_mean, mean)
            self._update_moving(self.moving_variance, var)
            return y
        return batch_normalization(inputs, self.moving_mean, self.moving_variance, self.axis,
                                   self.beta, self.gamma, self.epsilon, name=name)

    def _update_moving(self, moving: Tensor, batch) -> None:
        """moving = moving * momentum + batch * (1 - momentum), in place (Keras's order)."""
        B = get_backend(moving.device)
        dt = moving.dtype
        with no_grad():
            moving.data = B.add(B.multiply(moving.data, B.constant(self.momentum, dt)),
                                B.multiply(B.asarray(batch, dt),
                                           B.constant(1.0 - self.momentum, dt)))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(
                    self.moving_variance_initializer)}


class LayerNormalization(Layer):
    """Normalises each sample over `axis` (an int or a list of axes), then scales by
    gamma and shifts by beta, both of those axes' shape (Keras 3)."""

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 rms_scaling: bool = False, **kwargs):
        super().__init__(**kwargs)
        owner = f"LayerNormalization {self.name!r}"
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool)
                               for a in axes):
            raise TypeError(f"{owner}: `axis` must be an int or a list/tuple of ints, got "
                            f"{axis!r}")
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = _number(epsilon, "epsilon", owner, 0.0, low_open=True)
        self.center, self.scale = _flag(center, "center", owner), _flag(scale, "scale", owner)
        _unsupported(owner, beta_regularizer=beta_regularizer,
                     gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                     gamma_constraint=gamma_constraint, rms_scaling=rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer, owner)
        self.gamma_initializer = initializers.get(gamma_initializer, owner)
        self.gamma = self.beta = None

    def _axes(self, rank: int) -> list:
        owner = f"LayerNormalization {self.name!r}"
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        out = sorted({_axis(a, rank, owner) for a in axes})
        if len(out) != len(axes):
            raise ValueError(f"{owner}: `axis` names an axis twice: {self.axis}")
        return out

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(f"LayerNormalization {self.name!r}: the normalised axes {axes} "
                             f"must have known sizes, got input shape {tuple(input_shape)}")
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=shape,
                                         initializer=self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight(name="beta", shape=shape,
                                        initializer=self.beta_initializer)
        self._input_spec = (len(input_shape), {a: input_shape[a] for a in axes})

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def call(self, inputs):
        return ops.normalization.layer_normalization(
            inputs, self.gamma, self.beta, self._axes(inputs.ndim), self.epsilon,
            name=f"LayerNormalization {self.name!r}")

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer)}


# ------------------------------------------------------------ Conv2D + BN folding
def can_fold_conv_bn(conv: Layer, bn: Layer, training) -> bool:
    """A Conv2D without activation straight into a BatchNormalization over its
    channels, run in inference mode: the normalisation folds into the conv."""
    return (isinstance(conv, Conv2D) and type(bn) is BatchNormalization and
            conv.activation is activations.linear and bn.axis in (-1, 3) and
            not (training and bn.trainable))


def is_relu(layer: Layer) -> bool:
    """A layer that is exactly ReLU (ReLU(), Activation('relu')): foldable into the conv."""
    return type(layer).__name__ in ("ReLU", "Activation") and isinstance(layer, Activation) and \
        layer.activation is activations.relu


def can_fuse_bn_relu(bn: Layer, relu: Layer) -> bool:
    """A BatchNormalization straight into an exact ReLU, neither with an activity
    regularizer (it needs the layer's own output): bn_relu runs them as one op."""
    return type(bn) is BatchNormalization and is_relu(relu) and \
        bn.activity_regularizer is None and relu.activity_regularizer is None


FUSE_POOL = True   # bn_relu's pool in the normalisation's pass (off: benchmarks compare)


def bn_relu(bn: BatchNormalization, relu: Layer, x: Tensor, training,
            pool: Layer | None = None) -> Tensor:
    """relu(bn(x)), then pool(...) if given (a MaxPooling2D), the layers built as if
    called one after the other. With batch statistics (training), the ReLU runs in the
    normalisation's pass (one pass over the activations fewer), and so does a pool whose
    windows do not overlap (the normalised values never go through memory whole); the
    backward's kernels apply the ReLU's mask, and read the gradient through the pool's
    winners, as they read it (no masked or dense copy), with the bits of the layers'
    own backwards."""
    bn.ensure_built(x.shape)
    relu.ensure_built(x.shape)
    pgeom = None
    if pool is not None and FUSE_POOL:
        pool.ensure_built(x.shape)
        pgeom = ops.pool2d_geometry(x.shape, pool.pool_size, pool.strides, pool.padding,
                                    name=f"MaxPooling2D {pool.name!r}")
        if not (type(pool) is MaxPooling2D and pool.activity_regularizer is None and
                pool_fits(x.shape, bn.axis, pgeom)):
            pgeom = None
    if not (training and bn.trainable):
        y = relu(bn(x, training=training), training=training)
        return y if pool is None else pool(y, training=training)
    names = f"BatchNormalization {bn.name!r} + ReLU {relu.name!r}" + \
        (f" + MaxPooling2D {pool.name!r}" if pgeom is not None else "")
    y, mean, var = batch_normalization_training(x, bn.gamma, bn.beta, bn.axis, bn.epsilon,
                                                name=names, relu=True, pool=pgeom)
    bn._update_moving(bn.moving_mean, mean)
    bn._update_moving(bn.moving_variance, var)
    return y if pool is None or pgeom is not None else pool(y, training=training)


def conv_bn(conv: Layer, bn: BatchNormalization, x: Tensor, activation: str | None = None,
            pool: Layer | None = None) -> Tensor:
    """bn(conv(x)) at inference as one conv: kernel * s and (bias - moving_mean) * s +
    beta, s = gamma / sqrt(moving_variance + epsilon) per filter. Written with Tensor
    ops, so gradients reach the conv's kernel and bias (and gamma, beta) as in the
    unfolded pair; `activation='relu'` fuses a ReLU after the BN into the conv, and a
    MaxPooling2D `pool` after them joins too (ops.conv2d_maxpool)."""
    conv.ensure_built(x.shape)
    bn.ensure_built(conv.compute_output_shape(x.shape))
    s = (bn.moving_variance + bn.epsilon) ** -0.5
    if bn.gamma is not None:
        s = s * bn.gamma
    shift = -bn.moving_mean if conv.bias is None else conv.bias - bn.moving_mean
    shift = shift * s
    if bn.beta is not None:
        shift = shift + bn.beta
    if pool is None:
        return conv.convolve(x, conv.kernel * s, shift, activation)
    pool.ensure_built(conv.compute_output_shape(x.shape))
    return ops.conv2d_maxpool(
        x, conv.kernel * s, shift, conv.strides, conv.padding, conv.dilation_rate, activation,
        pool.pool_size, pool.strides, pool.padding,
        name=f"Conv2D {conv.name!r} + BatchNormalization {bn.name!r} + MaxPooling2D "
             f"{pool.name!r}")

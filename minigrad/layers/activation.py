"""Keras's activation layers: Softmax(axis), LeakyReLU, PReLU, ELU (ReLU and
Activation are in core.py)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import initializers
from ..ops import activations
from ..tensor import Tensor, as_tensor
from .base import Layer

LARGE_NEGATIVE = -1e9  # what Keras's masked softmax puts where the mask is False


def _owner(layer) -> str:
    return f"{type(layer).__name__} {layer.name!r}"


def _real(value, arg: str, owner: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value or \
            (minimum is not None and value < minimum):
        want = "a number" if minimum is None else f"a number >= {minimum}"
        raise ValueError(f"{owner}: `{arg}` must be {want}, got {value!r}")
    return float(value)


class _Elementwise(Layer):
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def masked_softmax(x: Tensor, mask, axis) -> Tensor:
    """Keras's Softmax(mask=...): masked positions get -1e9 before the softmax and 0
    after it (so an all-masked row is 0, not uniform); mask broadcasts to x."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if mask is not None:
        m = mask.numpy() if isinstance(mask, Tensor) else np.asarray(mask)
        if m.ndim > x.ndim or any(a != 1 and a != b for a, b in zip(m.shape[::-1],
                                                                    x.shape[::-1])):
            raise ValueError(f"Softmax: the mask of shape {m.shape} must broadcast to the "
                             f"inputs of shape {x.shape}")
        keep = (m > 0.5 if m.dtype != bool else m).astype(x.dtype)
        x = x * keep + (keep - 1.0) * -LARGE_NEGATIVE
    if len(axes) == 1:
        y = activations.softmax(x, axis=axes[0])
    else:  # exp(x - logsumexp over the axes): the axes moved last and flattened
        nd = x.ndim
        axes = sorted(a % nd for a in axes)
        rest = [a for a in range(nd) if a not in axes]
        perm = rest + axes
        moved = x.transpose(perm)
        flat = activations.softmax(moved.reshape(moved.shape[:len(rest)] + (-1,)), axis=-1)
        y = flat.reshape(moved.shape).transpose([perm.index(a) for a in range(nd)])
    return y if mask is None else y * keep


class Softmax(_Elementwise):
    """softmax over `axis` (an int or a list of axes); call(inputs, mask=None)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool)
                               for a in axes):
            raise TypeError(f"{_owner(self)}: `axis` must be an int or a list of ints, got "
                            f"{axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def build(self, input_shape):
        for a in (self.axis if isinstance(self.axis, list) else [self.axis]):
            if not -len(input_shape) <= a < len(input_shape):
                raise ValueError(f"{_owner(self)}: `axis` {a} is out of range for an input of "
                                 f"rank {len(input_shape)} (shape {tuple(input_shape)})")

    def call(self, inputs, mask=None):
        return masked_softmax(as_tensor(inputs), mask, self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class LeakyReLU(_Elementwise):
    """x, or negative_slope * x below 0 (Keras 3's default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = _real(negative_slope, "negative_slope", _owner(self), 0.0)

    def call(self, inputs):
        return activations.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """x above 0, else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _real(alpha, "alpha", _owner(self))

    def call(self, inputs):
        return activations.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(_Elementwise):
    """x above 0, else alpha * x, alpha a learned weight of the input's shape (without
    the batch axis; size 1 along shared_axes)."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        if alpha_regularizer is not None or alpha_constraint is not None:
            raise ValueError(f"{_owner(self)}: `alpha_regularizer` and `alpha_constraint` are "
                             f"not supported by minigrad (expected None)")
        self.alpha_initializer = initializers.get(alpha_initializer, _owner(self))
        axes = [] if shared_axes is None else \
            list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
        if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) and a >= 1
                   for a in axes):
            raise ValueError(f"{_owner(self)}: `shared_axes` must be ints >= 1 (axes of the "
                             f"input after the batch axis), got {shared_axes!r}")
        self.shared_axes = None if shared_axes is None else [int(a) for a in axes]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if a >= len(input_shape):
                raise ValueError(f"{_owner(self)}: `shared_axes` {self.shared_axes} names axis "
                                 f"{a}, but the input has rank {len(input_shape)}")
            shape[a - 1] = 1
        self.alpha = self.add_weight(name="alpha", shape=tuple(shape),
                                     initializer=self.alpha_initializer)
        self._input_spec = (len(input_shape), {
            i: input_shape[i] for i in range(1, len(input_shape))
            if i not in (self.shared_axes or [])})

    def call(self, inputs):
        pos = activations.relu(inputs)
        return pos - self.alpha * activations.relu(-as_tensor(inputs))

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "shared_axes": self.shared_axes}

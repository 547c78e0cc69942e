"""Keras 3's `keras.activations`: functions on Tensors, by name for `activation=`.

Most are elementwise Numba kernels (minigrad.ops, bodies in backends/bodies.py);
leaky_relu, elu with alpha != 1, relu's options, gelu's tanh form and
exponential are compositions of Tensor ops, whose gradients autograd gives.
Formulas are Keras 3's (keras/src/activations/activations.py).
"""
from __future__ import annotations

import math
import types
from typing import Callable

import numpy as np

from .backends import get_backend
from .ops import activations as _kernels
from .ops.activations import (hard_sigmoid, hard_silu, log_softmax, mish,  # noqa: F401
                              relu6, selu, sigmoid, silu, softmax, softplus, softsign, tanh)
from .tensor import Tensor, as_tensor

def _above(x: Tensor, threshold: float) -> Tensor:
    """1 where x > threshold, else 0: a constant mask (no gradient through it)."""
    backend = get_backend(x.device)
    low = np.nextafter(x.dtype.type(threshold), x.dtype.type(np.inf))
    return Tensor._wrap(backend.clip_mask(x.data, low, np.inf), x.device)


def relu(x, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Tensor:
    """max(x, 0); with Keras's options: `negative_slope` * x below `threshold`,
    0 up to `threshold`, saturating at `max_value`."""
    x = as_tensor(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _kernels.relu(x)  # the kernel (also fused into Conv2D/Dense)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return leaky_relu(x, negative_slope)
    negative = (threshold - x).relu() if threshold != 0 else (-x).relu()
    out = x * _above(x, threshold) if threshold != 0 else x.relu()
    if max_value is not None:
        out = out.clip(0.0, float(max_value))
    if negative_slope != 0.0:
        out = out - negative_slope * negative
    return out


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    """x for x >= 0, negative_slope * x below."""
    x = as_tensor(x)
    return x.relu() - negative_slope * (-x).relu()


def elu(x, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) below."""
    x = as_tensor(x)
    if alpha == 1.0:
        return _kernels.elu(x)
    return x.relu() + alpha * (_kernels.elu(-(-x).relu()))  # elu of min(x, 0), scaled


def gelu(x, approximate: bool = False) -> Tensor:
    """x * Phi(x) (a kernel); `approximate=True`: the tanh form,
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = as_tensor(x)
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + tanh(inner))
    return _kernels.gelu(x)


def exponential(x) -> Tensor:
    """exp(x)."""
    return as_tensor(x).exp()


swish, hard_swish = silu, hard_silu


def linear(x):
    """x, unchanged."""
    return x


ALL_OBJECTS = (relu, leaky_relu, relu6, softmax, elu, selu, softplus, softsign, silu, gelu,
               tanh, sigmoid, exponential, hard_sigmoid, hard_silu, linear, mish, log_softmax)
ALL_OBJECTS_DICT = {fn.__name__: fn for fn in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({"swish": silu, "hard_swish": hard_silu})


def get(identifier, owner: str = "activation") -> Callable[[Tensor], Tensor]:
    """An activation by Keras name ('relu', 'swish', ...), None (linear), a config
    dict, or any callable Tensor -> Tensor."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier.get("class_name"))
    if isinstance(identifier, str):
        fn = ALL_OBJECTS_DICT.get(identifier) or ALL_OBJECTS_DICT.get(identifier.lower())
        if fn is not None:
            return fn
    elif callable(identifier):
        return identifier
    raise ValueError(f"{owner}: unknown activation {identifier!r}; expected one of "
                     f"{sorted(ALL_OBJECTS_DICT)}, None or a callable")


def serialize(activation) -> str:
    """A built-in activation's name (what layer configs store)."""
    for name, fn in ALL_OBJECTS_DICT.items():
        if fn is activation:
            return name
    if isinstance(activation, types.FunctionType):
        raise ValueError(f"Unknown activation function {activation.__name__!r} cannot be "
                         f"serialized; pass it in custom_objects when loading, by name")
    raise ValueError(f"Unknown activation {activation!r} cannot be serialized")


def deserialize(config, custom_objects: dict | None = None):
    if custom_objects and isinstance(config, str) and config in custom_objects:
        return custom_objects[config]
    return get(config, "activations.deserialize")


def name_of(activation) -> str:
    """The name a layer config stores (a custom function's own name)."""
    try:
        return serialize(activation)
    except ValueError:
        return getattr(activation, "__name__", repr(activation))

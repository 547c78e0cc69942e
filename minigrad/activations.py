"""Keras 3's `keras.activations`: functions on Tensors, by name for `activation=`.

relu, sigmoid, tanh, softmax and log_softmax are Numba kernels (minigrad.ops);
the others are compositions of Tensor ops, so autograd gives their gradients.
Formulas are Keras 3's (keras/src/activations/activations.py).
"""
from __future__ import annotations

import math
import types
from typing import Callable

import numpy as np

from .backends import get_backend
from .ops import activations as _kernels
from .ops.activations import log_softmax, sigmoid, softmax, tanh  # noqa: F401
from .tensor import Tensor, as_tensor

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


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


def relu6(x) -> Tensor:
    """min(max(x, 0), 6)."""
    return as_tensor(x).clip(0.0, 6.0)


def elu(x, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) below."""
    x = as_tensor(x)
    return x.relu() + alpha * ((-(-x).relu()).exp() - 1.0)


def selu(x) -> Tensor:
    """scale * elu(x, alpha), alpha = 1.67326324, scale = 1.05070098."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def softplus(x) -> Tensor:
    """log(1 + exp(x)), computed stably as max(x, 0) + log(1 + exp(-|x|))."""
    x = as_tensor(x)
    neg_abs = x - 2.0 * x.relu()  # -|x|, with relu's side at 0: the gradient there is 1/2
    return x.relu() + (neg_abs.exp() + 1.0).log()


def softsign(x) -> Tensor:
    """x / (|x| + 1)."""
    x = as_tensor(x)
    return x / (x.relu() + (-x).relu() + 1.0)


def silu(x) -> Tensor:
    """x * sigmoid(x) (swish)."""
    x = as_tensor(x)
    return x * sigmoid(x)


swish = silu


def gelu(x, approximate: bool = False) -> Tensor:
    """x * Phi(x); `approximate=True`: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = as_tensor(x)
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + tanh(inner))
    exact = getattr(_kernels, "gelu", None)  # the erf form is a backend kernel
    if exact is None:
        raise NotImplementedError("gelu: the exact (erf) form needs the gelu kernel, not in "
                                  "this build; use gelu(x, approximate=True)")
    return exact(x)


def exponential(x) -> Tensor:
    """exp(x)."""
    return as_tensor(x).exp()


def hard_sigmoid(x) -> Tensor:
    """relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1) (Keras 3's form)."""
    return (as_tensor(x) * (1.0 / 6.0) + 0.5).clip(0.0, 1.0)


def hard_silu(x) -> Tensor:
    """x * hard_sigmoid(x) (hard_swish)."""
    x = as_tensor(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def mish(x) -> Tensor:
    """x * tanh(softplus(x))."""
    x = as_tensor(x)
    return x * tanh(softplus(x))


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

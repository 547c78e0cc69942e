"""Keras 3's `keras.activations`: functions on Tensors, by name for `activation=`.

The functions are minigrad.ops.activations' (each elementwise one a kernel
body pair run on either backend, the row ones softmax / log_softmax /
sparsemax over any axis), under Keras's names and signatures; this module adds
Keras's `get` / `serialize` / `deserialize`.
"""
from __future__ import annotations

import types
from typing import Callable

from .ops import activations as _ops
from .ops.activations import (  # noqa: F401
    ACTIVATIONS, celu, elu, exponential, gelu, glu, hard_shrink, hard_sigmoid, hard_silu,
    hard_swish, hard_tanh, leaky_relu, linear, log_sigmoid, log_softmax, mish, relu, relu6,
    selu, sigmoid, silu, soft_shrink, softmax, softplus, softsign, sparse_plus,
    sparse_sigmoid, sparsemax, squareplus, swish, tanh, tanh_shrink, threshold)
from .tensor import Tensor

ALL_OBJECTS_DICT = ACTIVATIONS


def get(identifier, owner: str = "activation") -> Callable[[Tensor], Tensor]:
    """An activation by Keras name ('relu', 'swish', ...), None (linear), a config
    dict, or any callable Tensor -> Tensor."""
    if isinstance(identifier, dict):  # Keras's {"class_name": "function", ...} entry
        from .saving.serialization_lib import deserialize_keras_object
        if identifier.get("class_name") != "function" and "module" not in identifier:
            identifier = identifier.get("config", identifier.get("class_name"))
        else:
            identifier = deserialize_keras_object(identifier, module_objects=ACTIVATIONS)
    if isinstance(identifier, str) and identifier in ACTIVATIONS:
        return ACTIVATIONS[identifier]
    if isinstance(identifier, str) and identifier.lower() not in ACTIVATIONS:
        from .saving.object_registration import get_registered_object
        custom = get_registered_object(identifier)  # custom_object_scope / registered
        if custom is not None:
            return custom
    return _ops.get(identifier, owner)


def serialize(activation):
    """A built-in activation's name (what layer configs store, as Keras 3); a
    custom function as Keras's function entry, its (registered) name inside."""
    for name, fn in ACTIVATIONS.items():
        if fn is activation:
            return name
    if isinstance(activation, types.FunctionType) or hasattr(activation, "get_config"):
        from .saving.serialization_lib import serialize_keras_object
        return serialize_keras_object(activation)
    raise ValueError(f"Unknown activation {activation!r} cannot be serialized")


def deserialize(config, custom_objects: dict | None = None):
    from .saving.object_registration import CustomObjectScope
    if custom_objects and isinstance(config, str) and config in custom_objects:
        return custom_objects[config]
    with CustomObjectScope(custom_objects):
        return get(config, "activations.deserialize")


name_of = _ops.name_of  # the name a layer config stores (a custom function's own name)

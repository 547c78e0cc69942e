"""Losses with Keras 3's names: classes (`Loss` subclasses) and per-sample functions.

`get` resolves an identifier as Keras's `keras.losses.get`: a class name gives
an instance ('MeanSquaredError'), a function name or alias gives the function
('mean_squared_error', 'mse'), a config dict gives its instance, and a
callable is returned as it is.
"""
from __future__ import annotations

import inspect

from .loss import Loss, LossFunctionWrapper, reduce_weighted_values  # noqa: F401
from .losses import (BinaryCrossentropy, CategoricalCrossentropy, Hinge, Huber,  # noqa: F401
                     KLDivergence, MeanAbsoluteError, MeanSquaredError,
                     SparseCategoricalCrossentropy, binary_crossentropy,
                     categorical_crossentropy, hinge, huber, kl_divergence,
                     mean_absolute_error, mean_squared_error, sparse_categorical_crossentropy)

ALL_OBJECTS = [
    Loss, LossFunctionWrapper, KLDivergence, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, MeanSquaredError, MeanAbsoluteError, Huber, Hinge,
    kl_divergence, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, mean_squared_error, mean_absolute_error, huber, hinge,
]
ALL_OBJECTS_DICT = {obj.__name__: obj for obj in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "kld": kl_divergence, "KLD": kl_divergence,
    "kullback_leibler_divergence": kl_divergence,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "huber_loss": huber,
})

# Keras's legacy function aliases, kept as module attributes
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kl_divergence
bce = binary_crossentropy

#: each built-in function -> its class (compile uses the class: its target
#: checks, and the fused softmax kernel for the cross-entropies)
FUNCTION_CLASSES = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError, huber: Huber, kl_divergence: KLDivergence,
    hinge: Hinge,
}


def serialize(loss) -> dict | str:
    """A Loss as {'class_name', 'config'}; a built-in function as its name."""
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    name = getattr(loss, "__name__", None)
    if name in ALL_OBJECTS_DICT and ALL_OBJECTS_DICT[name] is loss:
        return name
    raise ValueError(f"losses.serialize: cannot serialize {loss!r}: expected a Loss or a "
                     f"built-in loss function")


def deserialize(config, custom_objects: dict | None = None):
    """The loss a `serialize` result (or a name) describes."""
    objects = {**ALL_OBJECTS_DICT, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in objects:
            raise ValueError(_unknown(config))
        return objects[config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"losses.deserialize: expected a name or a dict with 'class_name' "
                         f"and 'config', got {config!r}")
    cls = objects.get(config["class_name"])
    if not inspect.isclass(cls):
        raise ValueError(_unknown(config["class_name"]))
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """Keras's `losses.get`: None, a name, a config dict, a Loss or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
        if obj is None:
            raise ValueError(_unknown(identifier))
    else:
        obj = identifier
    if not callable(obj):
        raise ValueError(f"Could not interpret loss identifier: {identifier!r}; expected a "
                         f"loss name, a Loss or a function fn(y_true, y_pred)")
    return obj() if inspect.isclass(obj) else obj


def _unknown(name) -> str:
    return (f"Could not interpret loss identifier: {name!r}; expected one of "
            f"{sorted(ALL_OBJECTS_DICT)}, a minigrad.losses.Loss or a function "
            f"fn(y_true, y_pred)")

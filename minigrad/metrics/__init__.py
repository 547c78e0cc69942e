"""Metrics with Keras 3's names: `Metric` to subclass, Mean/Sum, accuracies,
regression errors, Precision/Recall/AUC; `get` resolves names as Keras does
('mae', 'sparse_categorical_accuracy', 'AUC', ...; compile resolves 'accuracy'
from the targets' and predictions' shapes)."""
from __future__ import annotations

import inspect

from ..losses import (binary_crossentropy, categorical_crossentropy, hinge,  # noqa: F401
                      huber, kl_divergence, mean_absolute_error, mean_squared_error,
                      sparse_categorical_crossentropy)
from ..utils.naming import to_snake_case
from .accuracy_metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy,  # noqa: F401
                               SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                               TopKCategoricalAccuracy, accuracy, binary_accuracy,
                               categorical_accuracy, sparse_categorical_accuracy,
                               sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .confusion_metrics import (AUC, FalseNegatives, FalsePositives, Precision,  # noqa: F401
                                Recall, TrueNegatives, TruePositives)
from .metric import Metric, to_float  # noqa: F401
from .reduction_metrics import Mean, MeanMetricWrapper, Sum  # noqa: F401
from .regression_metrics import MeanAbsoluteError, MeanSquaredError  # noqa: F401

ALL_OBJECTS = [
    Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, MeanAbsoluteError, AUC,
    FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives,
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
]
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in ALL_OBJECTS})
ALL_OBJECTS_DICT.update({"mse": MeanSquaredError, "MSE": MeanSquaredError,
                         "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                         "auc": AUC})

#: metric functions by name (for MeanMetricWrapper configs and custom objects)
FUNCTIONS = {f.__name__: f for f in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
    mean_absolute_error, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, kl_divergence, hinge, huber)}


def serialize(metric) -> dict | str:
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    name = getattr(metric, "__name__", None)
    if FUNCTIONS.get(name) is metric:
        return name
    raise ValueError(f"metrics.serialize: cannot serialize {metric!r}: expected a Metric or "
                     f"a built-in metric function")


def deserialize(config, custom_objects: dict | None = None):
    objects = {**ALL_OBJECTS_DICT, **FUNCTIONS, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in objects:
            raise ValueError(_unknown(config))
        return objects[config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"metrics.deserialize: expected a name or a dict with 'class_name' "
                         f"and 'config', got {config!r}")
    cls = objects.get(config["class_name"])
    if not inspect.isclass(cls):
        raise ValueError(_unknown(config["class_name"]))
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """Keras's `metrics.get`: None, a name, a config dict, a Metric or a callable."""
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
        raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
    return obj() if inspect.isclass(obj) else obj


def _unknown(name) -> str:
    return (f"Could not interpret metric identifier: {name!r}; expected 'accuracy', 'acc', "
            f"one of {sorted(k for k in ALL_OBJECTS_DICT if k[0].islower())}, a "
            f"minigrad.metrics.Metric or a function fn(y_true, y_pred)")

"""What `compile` does with its loss and metrics identifiers (Keras 3's
trainers/compile_utils.py): strings, functions and objects become Loss and
Metric instances, named as Keras names them in the logs."""
from __future__ import annotations

from . import losses as losses_mod
from . import metrics as metrics_mod
from .utils.naming import get_object_name


def is_binary_or_sparse_categorical(y_true_shape: tuple, y_pred_shape: tuple) -> tuple:
    """Keras's rule: binary when the prediction has one unit; sparse when the
    targets have a lower rank, or one unit against several predicted."""
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
    return is_binary, is_sparse


def get_loss(identifier, y_true_shape: tuple | None = None,
             y_pred_shape: tuple | None = None) -> losses_mod.Loss | None:
    """A Loss for compile: 'crossentropy'/'ce' picked from the shapes; a built-in
    function becomes its class (its target checks, the fused softmax kernel);
    any other callable fn(y_true, y_pred) is wrapped in a LossFunctionWrapper."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        if y_true_shape is None:
            return None  # resolved on the first batch, when the shapes are known
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true_shape, y_pred_shape)
        obj = losses_mod.binary_crossentropy if is_binary else (
            losses_mod.sparse_categorical_crossentropy if is_sparse else
            losses_mod.categorical_crossentropy)
    else:
        obj = losses_mod.get(identifier)
    if isinstance(obj, losses_mod.Loss):
        return obj
    name = identifier if isinstance(identifier, str) else get_object_name(obj)
    cls = losses_mod.FUNCTION_CLASSES.get(obj)
    if cls is not None:
        return cls(name=name)
    return losses_mod.LossFunctionWrapper(obj, name=name)


def check_metric(identifier) -> None:
    """Fail at compile, not at the first batch, on a metric that cannot resolve."""
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return
    if isinstance(identifier, (str, dict)):
        metrics_mod.get(identifier)
    elif not callable(identifier):
        raise ValueError(f"Could not interpret metric identifier: {identifier!r}; expected a "
                         f"metric name, a minigrad.metrics.Metric or a function "
                         f"fn(y_true, y_pred)")


def get_metric(identifier, y_true_shape: tuple, y_pred_shape: tuple) -> metrics_mod.Metric:
    """A Metric for compile, named by the identifier as given ('acc' logs 'acc');
    'accuracy'/'acc' pick binary, sparse or categorical accuracy from the shapes."""
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() in ("accuracy", "acc"):
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true_shape, y_pred_shape)
        cls = metrics_mod.BinaryAccuracy if is_binary else (
            metrics_mod.SparseCategoricalAccuracy if is_sparse else
            metrics_mod.CategoricalAccuracy)
        obj = cls(name=str(identifier))
    else:
        obj = metrics_mod.get(identifier)
    name = identifier if isinstance(identifier, str) else get_object_name(obj)
    if not isinstance(obj, metrics_mod.Metric):
        obj = metrics_mod.MeanMetricWrapper(obj, name=name)
    obj.name = name
    return obj

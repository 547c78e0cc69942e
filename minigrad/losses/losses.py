"""Keras 3's cross-entropies: a class and a function for each, with Keras's names and
formulas (the other losses are in regression_losses.py), and the helpers both use.

A function `fn(y_true, y_pred, ...)` returns one loss per sample (the last
axis reduced), as in Keras; a class reduces those (the batch mean by
default, see `Loss`). Both check their targets the one way `fit` does.
Softmax cross-entropy on logits runs as one fused kernel
(`ops.softmax_cross_entropy`), which `fit` also uses when a model ends in
softmax and its loss is a categorical cross-entropy on probabilities.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backends import get_backend
from ..tensor import Tensor, as_tensor
from .loss import Loss, LossFunctionWrapper, class_id_targets, same_shape_targets

EPSILON = 1e-7  # Keras's backend epsilon


# ------------------------------------------------------------------ helpers
def _last_axis(x: Tensor, axis: int, name: str) -> Tensor:
    """x with `axis` moved last (the per-sample axis Keras reduces)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name}: `axis` must be of type `int`, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for predictions of rank "
                         f"{x.ndim}")
    axis = int(axis) % x.ndim
    if axis == x.ndim - 1:
        return x
    return x.transpose([i for i in range(x.ndim) if i != axis] + [axis])


def _prepare(y_true, y_pred, loss: Loss):
    """The functional losses check targets as the classes (and fit) do."""
    y_pred = as_tensor(y_pred)
    return loss._targets(y_true, y_pred), y_pred


def _constant(x: Tensor, dtype) -> Tensor:
    """Targets as a constant Tensor of the predictions' dtype."""
    if x.dtype == dtype:
        return x.detach()
    backend = get_backend(x.device)
    return Tensor._wrap(backend.asarray(x.data, dtype=dtype), x.device)


# -------------------------------------------------------- cross-entropies
def _categorical_ce(y_true: Tensor, y_pred: Tensor, from_logits: bool, label_smoothing: float,
                    axis: int, name: str) -> Tensor:
    y_pred, y_true = _last_axis(y_pred, axis, name), _last_axis(y_true, axis, name)
    target = _constant(y_true, y_pred.dtype)
    if label_smoothing:
        k = y_pred.shape[-1]
        target = target * (1.0 - label_smoothing) + label_smoothing / k
    if from_logits:
        return _fused(y_pred, target, False, name)
    p = (y_pred / y_pred.sum(axis=-1, keepdims=True)).clip(EPSILON, 1 - EPSILON)
    return -(target * p.log()).sum(axis=-1)


def _sparse_ce(y_true: Tensor, y_pred: Tensor, from_logits: bool, ignore_class, axis: int,
               name: str) -> Tensor:
    y_pred = _last_axis(y_pred, axis, name)
    backend = get_backend(y_pred.device)
    labels = backend.asarray(y_true.data, np.int64)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = backend.reshape(labels, tuple(labels.shape[:-1]))
    valid = None
    if ignore_class is not None:  # Keras: label 0 where ignored, loss masked out
        host = backend.to_numpy(labels)
        valid = host != ignore_class
        labels = backend.asarray(np.where(valid, host, 0))
    if from_logits:
        values = _fused(y_pred, labels, True, name)
    else:
        k = y_pred.shape[-1]
        target = Tensor._wrap(backend.reshape(backend.one_hot(
            backend.reshape(labels, (-1,)), k, y_pred.dtype), y_pred.shape), y_pred.device)
        p = (y_pred / y_pred.sum(axis=-1, keepdims=True)).clip(EPSILON, 1 - EPSILON)
        values = -(target * p.log()).sum(axis=-1)
    if valid is not None:
        values = values * Tensor(valid, device=y_pred.device, dtype=y_pred.dtype)
        values._keras_mask = valid  # the reduction averages over valid samples only
    return values


def _fused(logits: Tensor, target, sparse: bool, name: str) -> Tensor:
    """Per-row softmax cross-entropy from the fused kernel, any leading axes."""
    lead = logits.shape[:-1]
    if len(lead) != 1:
        logits = logits.reshape(-1, logits.shape[-1])
        target = target.reshape(-1, target.shape[-1]) if isinstance(target, Tensor) else \
            get_backend(logits.device).reshape(target, (-1,))
    values = ops.softmax_cross_entropy(logits, target, sparse=sparse, name=name,
                                       reduction="none")
    return values if len(lead) == 1 else values.reshape(lead)


def _binary_ce(y_true: Tensor, y_pred: Tensor, from_logits: bool, label_smoothing: float,
               axis: int) -> Tensor:
    target = _constant(y_true, y_pred.dtype)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        # max(x, 0) - x*t + log(1 + exp(-|x|)); -|x| as x - 2*relu(x) so that the
        # gradient at x = 0 is sigmoid(0) - t, as TensorFlow's formula gives
        neg_abs = y_pred - 2.0 * y_pred.relu()
        bce = y_pred.relu() - y_pred * target + (neg_abs.exp() + 1.0).log()
    else:
        p = y_pred.clip(EPSILON, 1 - EPSILON)
        bce = -(target * p.log() + (1.0 - target) * (1.0 - p).log())
    return bce.mean(axis=axis)


# --------------------------------------------------------------- classes
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Integer class ids against class probabilities (or logits, `from_logits=True`).

    With probabilities, as Keras: each row is divided by its sum and clipped
    to [1e-7, 1 - 1e-7] before the log, so predictions outside [0, 1] are
    clipped, not rejected. `ignore_class`: samples with that label count
    neither in the loss nor in the batch size it is averaged over.
    """

    fuses_softmax, sparse = True, True

    def __init__(self, from_logits: bool = False, ignore_class=None,
                 reduction="sum_over_batch_size", axis: int = -1,
                 name: str = "sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction,
                         dtype=dtype, from_logits=from_logits, ignore_class=ignore_class,
                         axis=axis)
        if ignore_class is not None and (isinstance(ignore_class, bool) or
                                         not isinstance(ignore_class, (int, np.integer))):
            raise TypeError(f"{name}: `ignore_class` must be an int class id or None, got "
                            f"{ignore_class!r}")
        self.from_logits, self.ignore_class = bool(from_logits), ignore_class
        self.axis = _axis(axis, name)

    def call(self, y_true, y_pred):
        return _sparse_ce(y_true, y_pred, self.from_logits, self.ignore_class, self.axis,
                          self.name)

    def _validate(self, y, pred_shape, dtype):
        return class_id_targets(y, pred_shape, self.name, self.ignore_class)

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}


class CategoricalCrossentropy(LossFunctionWrapper):
    """One-hot (or soft) target distributions against class probabilities (or logits).

    Targets must be probabilities: values outside [0, 1] raise ValueError.
    `label_smoothing` s: targets t * (1 - s) + s / classes.
    """

    fuses_softmax = True

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: str = "categorical_crossentropy",
                 dtype=None):
        super().__init__(categorical_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _smoothing(label_smoothing, name)
        self.axis = _axis(axis, name)

    def call(self, y_true, y_pred):
        return _categorical_ce(y_true, y_pred, self.from_logits, self.label_smoothing,
                               self.axis, self.name)

    def _validate(self, y, pred_shape, dtype):
        if y.ndim and y.shape != tuple(pred_shape):
            raise ValueError(f"{self.name}: expected one-hot targets of shape (samples, "
                             f"{pred_shape[-1]}), got shape {y.shape} for predictions of "
                             f"shape {tuple(pred_shape)}; for integer labels use "
                             f"'sparse_categorical_crossentropy'")
        return same_shape_targets(y, pred_shape, dtype, self.name, probabilities=True)

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(LossFunctionWrapper):
    """-(t log p + (1 - t) log(1 - p)), p clipped to [1e-7, 1 - 1e-7], averaged over
    `axis`; with `from_logits=True` the stable form on logits. Targets in [0, 1];
    `label_smoothing` s: t * (1 - s) + s / 2."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: str = "binary_crossentropy",
                 dtype=None):
        super().__init__(binary_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _smoothing(label_smoothing, name)
        self.axis = _axis(axis, name)

    def call(self, y_true, y_pred):
        return _binary_ce(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def _validate(self, y, pred_shape, dtype):
        return same_shape_targets(y, pred_shape, dtype, self.name, probabilities=True)

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


def _axis(axis, name: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name}: `axis` must be of type `int`, got {axis!r}")
    return int(axis)


def _smoothing(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or \
            not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: `label_smoothing` must be a float in [0, 1], got {value!r}")
    return float(value)


# -------------------------------------------------------------- functions
def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                                    ignore_class=None, axis: int = -1) -> Tensor:
    """Per-sample cross-entropy of integer class ids (Keras's function)."""
    loss = SparseCategoricalCrossentropy(from_logits, ignore_class, axis=axis)
    return _sparse_ce(*_prepare(y_true, y_pred, loss), bool(from_logits), ignore_class, axis,
                      loss.name)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """Per-sample cross-entropy of target distributions (Keras's function)."""
    loss = CategoricalCrossentropy(from_logits, label_smoothing, axis)
    return _categorical_ce(*_prepare(y_true, y_pred, loss), bool(from_logits),
                           loss.label_smoothing, axis, loss.name)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    loss = BinaryCrossentropy(from_logits, label_smoothing, axis)
    return _binary_ce(*_prepare(y_true, y_pred, loss), bool(from_logits),
                      loss.label_smoothing, axis)

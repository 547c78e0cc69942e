"""Keras 3's losses: a class and a function for each, with Keras's names and formulas.

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
from .loss import (Loss, LossFunctionWrapper, class_id_targets, same_shape_targets,
                   squeeze_or_expand_to_same_rank)

EPSILON = 1e-7  # Keras's backend epsilon


# ------------------------------------------------------------------ helpers
def _abs(x: Tensor) -> Tensor:
    """|x| with gradient sign(x) (0 at 0, as PyTorch's abs)."""
    return x.relu() + (-x).relu()


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


class _SameShape(LossFunctionWrapper):
    """A regression-style loss: targets of the predictions' shape."""

    probabilities = False

    def _validate(self, y, pred_shape, dtype):
        return same_shape_targets(y, pred_shape, dtype, self.name, self.probabilities)

    def get_config(self):
        return Loss.get_config(self)


class MeanSquaredError(_SameShape):
    """mean((y_true - y_pred)^2) over the last axis, then over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "mean_squared_error",
                 dtype=None):
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _mse(y_true, y_pred)


class MeanAbsoluteError(_SameShape):
    """mean(|y_true - y_pred|) over the last axis, then over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "mean_absolute_error",
                 dtype=None):
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _mae(y_true, y_pred)


class Huber(_SameShape):
    """0.5 e^2 where |e| <= delta, delta |e| - 0.5 delta^2 beyond (e = y_pred - y_true),
    averaged over the last axis."""

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size",
                 name: str = "huber_loss", dtype=None):
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return _huber(y_true, y_pred, self.delta)

    def get_config(self):
        return {**Loss.get_config(self), "delta": self.delta}


class KLDivergence(_SameShape):
    """sum(t log(t / p)) over the last axis, t and p clipped to [1e-7, 1]."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "kl_divergence",
                 dtype=None):
        super().__init__(kl_divergence, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _kl(y_true, y_pred)


class Hinge(_SameShape):
    """mean(max(1 - t * y_pred, 0)) over the last axis; 0/1 targets become -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "hinge", dtype=None):
        super().__init__(hinge, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _hinge(y_true, y_pred)


class MeanAbsolutePercentageError(_SameShape):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size",
                 name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, reduction=reduction,
                         dtype=dtype)

    def call(self, y_true, y_pred):
        return _mape(y_true, y_pred)


class MeanSquaredLogarithmicError(_SameShape):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2), last axis."""

    def __init__(self, reduction="sum_over_batch_size",
                 name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, reduction=reduction,
                         dtype=dtype)

    def call(self, y_true, y_pred):
        return _msle(y_true, y_pred)


class CosineSimilarity(_SameShape):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along `axis`."""

    def __init__(self, axis: int = -1, reduction="sum_over_batch_size",
                 name: str = "cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, name=name, reduction=reduction, dtype=dtype,
                         axis=axis)
        self.axis = _axis(axis, name)

    def call(self, y_true, y_pred):
        return -_cosine(y_true, y_pred, self.axis)

    def get_config(self):
        return {**Loss.get_config(self), "axis": self.axis}


class LogCosh(_SameShape):
    """mean(log(cosh(y_pred - y_true))) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "log_cosh", dtype=None):
        super().__init__(log_cosh, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _log_cosh(y_true, y_pred)


class Poisson(_SameShape):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "poisson", dtype=None):
        super().__init__(poisson, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _poisson(y_true, y_pred)


class SquaredHinge(_SameShape):
    """mean(max(1 - t * y_pred, 0)^2) over the last axis; 0/1 targets become -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "squared_hinge",
                 dtype=None):
        super().__init__(squared_hinge, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _squared_hinge(y_true, y_pred)


class CategoricalHinge(_SameShape):
    """max(neg - pos + 1, 0): pos = sum(y_true * y_pred), neg = max((1 - y_true) *
    y_pred), over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name: str = "categorical_hinge",
                 dtype=None):
        super().__init__(categorical_hinge, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return _categorical_hinge(y_true, y_pred)


def _axis(axis, name: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name}: `axis` must be of type `int`, got {axis!r}")
    return int(axis)


def _smoothing(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or \
            not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: `label_smoothing` must be a float in [0, 1], got {value!r}")
    return float(value)


# ------------------------------------------------------- per-sample bodies
def _mse(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(_constant(y_true, y_pred.dtype), y_pred)
    diff = y_true - y_pred
    return (diff * diff).mean(axis=-1)


def _mae(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(_constant(y_true, y_pred.dtype), y_pred)
    return _abs(y_true - y_pred).mean(axis=-1)


def _huber(y_true, y_pred, delta: float):
    y_true, y_pred = squeeze_or_expand_to_same_rank(_constant(y_true, y_pred.dtype), y_pred)
    a = _abs(y_pred - y_true)
    q = a - (a - delta).relu()  # min(|e|, delta)
    return (0.5 * q * q + delta * (a - q)).mean(axis=-1)


def _kl(y_true, y_pred):
    t = _constant(y_true, y_pred.dtype).clip(EPSILON, 1)
    return (t * (t.log() - y_pred.clip(EPSILON, 1).log())).sum(axis=-1)


def _hinge(y_true, y_pred):
    return (1.0 - _hinge_labels(y_true, y_pred.dtype) * y_pred).relu().mean(axis=-1)


def _same_rank(y_true, y_pred):
    return squeeze_or_expand_to_same_rank(_constant(y_true, y_pred.dtype), y_pred)


def _mape(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    scale = 1.0 / _abs(y_true).clip(EPSILON, np.inf)  # a constant: no gradient through it
    return 100.0 * _abs((y_true - y_pred) * scale).mean(axis=-1)


def _msle(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    d = (y_pred.clip(EPSILON, np.inf) + 1.0).log() - (y_true.clip(EPSILON, np.inf) + 1.0).log()
    return (d * d).mean(axis=-1)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    """x * rsqrt(max(sum(x^2), eps^2)) along axis (Keras's ops.normalize)."""
    square_sum = (x * x).sum(axis=axis, keepdims=True)
    return x * square_sum.clip(EPSILON * EPSILON, np.inf) ** -0.5


def _cosine(y_true, y_pred, axis: int):
    """sum(l2_normalize(y_true) * l2_normalize(y_pred)) along axis (the metric's sign)."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(axis=axis)


def _log_cosh(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    x = y_pred - y_true
    return (x + ops.softplus(x * -2.0) - float(np.log(2.0))).mean(axis=-1)


def _poisson(y_true, y_pred):
    t = _constant(y_true, y_pred.dtype)
    return (y_pred - t * (y_pred + EPSILON).log()).mean(axis=-1)


def _hinge_labels(y_true, dtype) -> Tensor:
    """Targets in y_pred's dtype, 0/1 labels turned into -1/1 as Keras does."""
    t = _constant(y_true, dtype)
    data = get_backend(t.device).to_numpy(t.data)
    if np.all((data == 0) | (data == 1)):
        t = 2.0 * t - 1.0
    return t


def _squared_hinge(y_true, y_pred):
    m = (1.0 - _hinge_labels(y_true, y_pred.dtype) * y_pred).relu()
    return (m * m).mean(axis=-1)


def _categorical_hinge(y_true, y_pred):
    t = _constant(y_true, y_pred.dtype)
    pos = (t * y_pred).sum(axis=-1)
    neg = ops.max((1.0 - t) * y_pred, axis=-1)
    return (neg - pos + 1.0).relu()


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


def mean_squared_error(y_true, y_pred) -> Tensor:
    return _mse(*_prepare(y_true, y_pred, MeanSquaredError()))


def mean_absolute_error(y_true, y_pred) -> Tensor:
    return _mae(*_prepare(y_true, y_pred, MeanAbsoluteError()))


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    return _huber(*_prepare(y_true, y_pred, Huber(delta)), float(delta))


def kl_divergence(y_true, y_pred) -> Tensor:
    return _kl(*_prepare(y_true, y_pred, KLDivergence()))


def hinge(y_true, y_pred) -> Tensor:
    return _hinge(*_prepare(y_true, y_pred, Hinge()))


def mean_absolute_percentage_error(y_true, y_pred) -> Tensor:
    return _mape(*_prepare(y_true, y_pred, MeanAbsolutePercentageError()))


def mean_squared_logarithmic_error(y_true, y_pred) -> Tensor:
    return _msle(*_prepare(y_true, y_pred, MeanSquaredLogarithmicError()))


def cosine_similarity(y_true, y_pred, axis: int = -1) -> Tensor:
    """-cosine similarity along `axis` (Keras's loss function; the metric's is positive)."""
    return -_cosine(*_prepare(y_true, y_pred, CosineSimilarity(axis)), _axis(axis, "cosine"))


def log_cosh(y_true, y_pred) -> Tensor:
    return _log_cosh(*_prepare(y_true, y_pred, LogCosh()))


def poisson(y_true, y_pred) -> Tensor:
    return _poisson(*_prepare(y_true, y_pred, Poisson()))


def squared_hinge(y_true, y_pred) -> Tensor:
    return _squared_hinge(*_prepare(y_true, y_pred, SquaredHinge()))


def categorical_hinge(y_true, y_pred) -> Tensor:
    return _categorical_hinge(*_prepare(y_true, y_pred, CategoricalHinge()))

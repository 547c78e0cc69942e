"""Keras 3's losses on values of the predictions' shape (regression, hinge, KL,
Poisson, cosine): a class and a per-sample function for each, Keras's names and
formulas (keras/src/losses/losses.py)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backends import get_backend
from ..tensor import Tensor
from .loss import Loss, LossFunctionWrapper, same_shape_targets, squeeze_or_expand_to_same_rank
from .losses import EPSILON, _axis, _constant, _prepare


# --------------------------------------------------------------- classes
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


# ------------------------------------------------------- per-sample bodies
def _mse(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(_constant(y_true, y_pred.dtype), y_pred)
    diff = y_true - y_pred
    return (diff * diff).mean(axis=-1)


def _mae(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(_constant(y_true, y_pred.dtype), y_pred)
    return ops.abs(y_true - y_pred).mean(axis=-1)


def _huber(y_true, y_pred, delta: float):
    y_true, y_pred = squeeze_or_expand_to_same_rank(_constant(y_true, y_pred.dtype), y_pred)
    a = ops.abs(y_pred - y_true)
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
    scale = 1.0 / ops.abs(y_true).clip(EPSILON, np.inf)  # a constant: no gradient through it
    return 100.0 * ops.abs((y_true - y_pred) * scale).mean(axis=-1)


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

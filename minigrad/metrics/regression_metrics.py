"""Regression metrics: means of Keras's per-sample loss functions (and the root of
one), Keras 3's names and formulas (keras/src/metrics/regression_metrics.py)."""
from __future__ import annotations

from ..losses import (log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                      mean_squared_error, mean_squared_logarithmic_error)
from ..losses.losses import _axis, _prepare
from ..losses.regression_losses import CosineSimilarity as _CosineLoss, _cosine
from ..tensor import Tensor
from .reduction_metrics import Mean, MeanMetricWrapper
from .metric import host


def cosine_similarity(y_true, y_pred, axis: int = -1) -> Tensor:
    """The cosine of the angle between y_true and y_pred along `axis` (the metric's
    sign: 1 for the same direction; the loss is its negative)."""
    return _cosine(*_prepare(y_true, y_pred, _CosineLoss(axis)), _axis(axis, "cosine"))


class _Error(MeanMetricWrapper):
    """A MeanMetricWrapper of a fixed function: its config is its name and dtype."""

    fn, direction = None, "down"

    def __init__(self, name: str | None = None, dtype=None):
        super().__init__(type(self).fn, name=name or type(self).fn.__name__, dtype=dtype)
        self._direction = self.direction

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class MeanSquaredError(_Error):
    """The mean of (y_true - y_pred)^2 over samples and the last axis."""
    fn = staticmethod(mean_squared_error)


class MeanAbsoluteError(_Error):
    """The mean of |y_true - y_pred| over samples and the last axis."""
    fn = staticmethod(mean_absolute_error)


class MeanAbsolutePercentageError(_Error):
    """The mean of 100 |y_true - y_pred| / max(|y_true|, 1e-7)."""
    fn = staticmethod(mean_absolute_percentage_error)


class MeanSquaredLogarithmicError(_Error):
    """The mean of (log(y_pred + 1) - log(y_true + 1))^2 (both floored at 1e-7)."""
    fn = staticmethod(mean_squared_logarithmic_error)


class LogCoshError(_Error):
    """The mean of log(cosh(y_pred - y_true)); Keras names it 'logcosh'."""
    fn = staticmethod(log_cosh)

    def __init__(self, name: str = "logcosh", dtype=None):
        super().__init__(name, dtype)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity of y_true and y_pred along `axis`."""

    def __init__(self, name: str = "cosine_similarity", dtype=None, axis: int = -1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self._fn_kwargs["axis"]}


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of (y_pred - y_true)^2."""

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = host(y_true).astype("float64"), host(y_pred).astype("float64")
        if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:  # Keras's same rank
            y_true = y_true[..., 0]
        elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
            y_pred = y_pred[..., 0]
        super().update_state((y_pred - y_true) ** 2, sample_weight=sample_weight)

    def result(self) -> Tensor:
        return super().result() ** 0.5

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

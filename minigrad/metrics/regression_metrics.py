"""Regression metrics: means of Keras's per-sample loss functions."""
from __future__ import annotations

from ..losses import mean_absolute_error, mean_squared_error
from .reduction_metrics import MeanMetricWrapper


class MeanSquaredError(MeanMetricWrapper):
    """The mean of (y_true - y_pred)^2 over samples and the last axis."""

    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of |y_true - y_pred| over samples and the last axis."""

    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

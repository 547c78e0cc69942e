"""Hinge and probabilistic metrics: means of Keras's per-sample loss functions
(keras/src/metrics/hinge_metrics.py, probabilistic_metrics.py)."""
from __future__ import annotations

from ..losses import (binary_crossentropy, categorical_crossentropy, categorical_hinge,
                      hinge, kl_divergence, poisson, sparse_categorical_crossentropy,
                      squared_hinge)
from .regression_metrics import _Error
from .reduction_metrics import MeanMetricWrapper


class Hinge(_Error):
    """The mean of max(1 - y_true * y_pred, 0) (0/1 labels become -1/1)."""
    fn = staticmethod(hinge)


class SquaredHinge(_Error):
    """The mean of max(1 - y_true * y_pred, 0)^2."""
    fn = staticmethod(squared_hinge)


class CategoricalHinge(_Error):
    """The mean of max(neg - pos + 1, 0)."""
    fn = staticmethod(categorical_hinge)


class KLDivergence(_Error):
    """The mean of sum(y_true log(y_true / y_pred)) over the last axis."""
    fn, direction = staticmethod(kl_divergence), None


class Poisson(_Error):
    """The mean of y_pred - y_true log(y_pred + 1e-7)."""
    fn, direction = staticmethod(poisson), None


class _Crossentropy(MeanMetricWrapper):
    """A cross-entropy loss function's mean, its options kept in the config."""

    def __init__(self, fn, name, dtype, **options):
        super().__init__(fn, name=name, dtype=dtype, **options)
        self._direction = "down"
        for key, value in options.items():
            setattr(self, key, value)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}


class BinaryCrossentropy(_Crossentropy):
    def __init__(self, name: str = "binary_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0.0):
        super().__init__(binary_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(_Crossentropy):
    def __init__(self, name: str = "categorical_crossentropy", dtype=None,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
        super().__init__(categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_Crossentropy):
    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype=None,
                 from_logits: bool = False, axis: int = -1):
        super().__init__(sparse_categorical_crossentropy, name, dtype,
                         from_logits=from_logits, axis=axis)

"""Sum, Mean and MeanMetricWrapper (a metric from a function), Keras 3's formulas.

Their state is kept in float64 (Keras: float32), so counts and sums stay
exact to 2**53 and a running mean is the same number Python's float
arithmetic gives.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, no_grad
from .metric import Metric, host


def reduce_to_samplewise_values(values: np.ndarray, sample_weight, reduce_fn) -> tuple:
    """Keras's reduction: values weighted by sample_weight (broadcast after Keras's
    squeeze/expand rule), then reduced to one value per sample."""
    if sample_weight is not None:
        weight = host(sample_weight)
        values, weight = _same_rank(values, weight)
        if values.ndim > weight.ndim:
            values = reduce_fn(values, axis=tuple(range(weight.ndim, values.ndim)))
        try:
            weight_full = np.broadcast_to(weight, values.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {weight.shape} does not fit values of "
                             f"shape {values.shape}; give one weight per sample") from None
        values = values * weight_full
        sample_weight = weight_full if weight.ndim <= 1 else \
            reduce_fn(weight_full, axis=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


def _same_rank(x1: np.ndarray, x2: np.ndarray) -> tuple:
    """Keras's squeeze_or_expand_to_same_rank, on NumPy arrays."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


class Sum(Metric):
    """The (weighted) sum of the values given."""

    def __init__(self, name: str = "sum", dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.total = self.add_variable((), "zeros", dtype="float64", name="total")

    def update_state(self, values, sample_weight=None) -> None:
        values, _ = reduce_to_samplewise_values(host(values), sample_weight, np.sum)
        self.total.assign_add(values.sum())

    def result(self) -> Tensor:
        return self.total.value


class Mean(Metric):
    """The (weighted) mean of the values given: total / count."""

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.total = self.add_variable((), "zeros", dtype="float64", name="total")
        self.count = self.add_variable((), "zeros", dtype="float64", name="count")

    def update_state(self, values, sample_weight=None) -> None:
        values, sample_weight = reduce_to_samplewise_values(host(values), sample_weight,
                                                            np.mean)
        self._add(values.sum(), sample_weight.sum() if sample_weight is not None else
                  (values.shape[0] if values.ndim else 1))

    def _add(self, total, count) -> None:
        self.total.assign_add(total)
        self.count.assign_add(count)

    def result(self) -> Tensor:
        count = self.count.numpy()
        return Tensor(self.total.numpy() / count if count else np.float64(0.0),
                      dtype="float64")


class MeanMetricWrapper(Mean):
    """A Mean of `fn(y_true, y_pred, **kwargs)`: per-sample values from a function,
    such as a loss function or a custom one written with Tensor ops."""

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: `fn` must be callable, got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": getattr(self._fn, "__name__", repr(self._fn)),
                **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        from . import FUNCTIONS  # a built-in metric function, by the name get_config gave
        config = dict(config)
        if isinstance(config.get("fn"), str):
            if config["fn"] not in FUNCTIONS:
                raise ValueError(f"MeanMetricWrapper: unknown metric function "
                                 f"{config['fn']!r}; known: {sorted(FUNCTIONS)}")
            config["fn"] = FUNCTIONS[config["fn"]]
        return cls(**config)

"""Losses with Keras's names; each returns the batch mean as a scalar Tensor."""
from __future__ import annotations

import numpy as np

from . import ops
from .tensor import Tensor, as_tensor

_EPSILON = 1e-7  # Keras's backend epsilon, for cross-entropy on probabilities


class Loss:
    name = "loss"
    #: softmax + this loss can run fused on logits (the model does it when the
    #: last layer's activation is softmax)
    fuses_softmax = False
    sparse = False

    def __call__(self, y_true, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def check_targets(self, y: np.ndarray, outputs: int) -> np.ndarray:
        """Validate and convert training targets for a model with `outputs` units."""
        return np.asarray(y, np.float32)

    def get_config(self) -> dict:
        return {}


class SparseCategoricalCrossentropy(Loss):
    """Integer class ids against predicted class probabilities (or logits)."""

    name, fuses_softmax, sparse = "sparse_categorical_crossentropy", True, True

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def __call__(self, y_true, y_pred):
        return _crossentropy(y_true, as_tensor(y_pred), self.from_logits, True, self.name)

    def check_targets(self, y, outputs):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{self.name}: expected integer class ids of shape (samples,), got "
                             f"shape {y.shape}; for one-hot targets use "
                             f"'categorical_crossentropy'")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.issubdtype(y.dtype, np.floating) or not np.all(np.mod(y, 1) == 0):
                raise TypeError(f"{self.name}: expected integer class ids, got dtype {y.dtype}")
        if y.size and (y.min() < 0 or y.max() >= outputs):
            raise ValueError(f"{self.name}: labels must be in [0, {outputs}) for a model with "
                             f"{outputs} outputs, got values in [{y.min()}, {y.max()}]")
        return y.astype(np.int64)

    def get_config(self):
        return {"from_logits": self.from_logits}


class CategoricalCrossentropy(SparseCategoricalCrossentropy):
    """One-hot (or soft) target distributions against predicted probabilities."""

    name, sparse = "categorical_crossentropy", False

    def __call__(self, y_true, y_pred):
        return _crossentropy(y_true, as_tensor(y_pred), self.from_logits, False, self.name)

    def check_targets(self, y, outputs):
        y = np.asarray(y, np.float32)
        if y.ndim != 2 or y.shape[1] != outputs:
            raise ValueError(f"{self.name}: expected one-hot targets of shape (samples, "
                             f"{outputs}), got shape {y.shape}; for integer labels use "
                             f"'sparse_categorical_crossentropy'")
        return y


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def __call__(self, y_true, y_pred):
        y_pred = as_tensor(y_pred)
        y_true = y_true.data if isinstance(y_true, Tensor) else y_true
        y_true = Tensor(y_true, device=y_pred.device, dtype=y_pred.dtype)  # stays on a GPU
        diff = y_pred - y_true.reshape(y_pred.shape)
        return (diff * diff).mean()

    def check_targets(self, y, outputs):
        y = np.asarray(y, np.float32)
        if y.ndim == 1 and outputs == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != outputs:
            raise ValueError(f"{self.name}: expected targets of shape (samples, {outputs}), got "
                             f"shape {y.shape}")
        return y


def _crossentropy(y_true, y_pred: Tensor, from_logits: bool, sparse: bool, name: str) -> Tensor:
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, y_true, sparse=sparse, name=name)
    # Probabilities, as Keras: renormalise, clip to [eps, 1-eps], then -sum(t*log p);
    # that is softmax cross-entropy on the logits log(p).
    p = y_pred / y_pred.sum(axis=-1, keepdims=True)
    return ops.softmax_cross_entropy(p.clip(_EPSILON, 1 - _EPSILON).log(), y_true,
                                     sparse=sparse, name=name)


ALIASES = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
           "categorical_crossentropy": CategoricalCrossentropy,
           "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError}


def get(identifier) -> Loss:
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ALIASES:
        return ALIASES[identifier.lower()]()
    raise ValueError(f"compile: unknown loss {identifier!r}; expected one of {sorted(ALIASES)} "
                     f"or a minigrad.losses.Loss")


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> Tensor:
    return SparseCategoricalCrossentropy(from_logits)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> Tensor:
    return CategoricalCrossentropy(from_logits)(y_true, y_pred)


def mean_squared_error(y_true, y_pred) -> Tensor:
    return MeanSquaredError()(y_true, y_pred)


mse = mean_squared_error

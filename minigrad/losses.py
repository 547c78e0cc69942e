"""Losses with Keras's names; each returns the batch mean as a scalar Tensor."""
from __future__ import annotations

import numbers

import numpy as np

from . import ops
from .backends import get_backend
from .tensor import Tensor, as_tensor

_EPSILON = 1e-7  # Keras's backend epsilon, for cross-entropy on probabilities


class Loss:
    """A loss: `loss(y_true, y_pred)` is the batch mean as a scalar Tensor.

    Targets given on the host (NumPy arrays, lists, CPU Tensors) go through
    the same checks and conversion as `fit`'s (`check_targets`): NaN or
    infinite targets, fractional or out-of-range class ids and targets whose
    shape does not match the predictions raise ValueError/TypeError. Targets
    already on a GPU come from `fit`, which checked them before uploading.
    """

    name = "loss"
    #: softmax + this loss can run fused on logits (the model does it when the
    #: last layer's activation is softmax)
    fuses_softmax = False
    sparse = False

    def __call__(self, y_true, y_pred) -> Tensor:
        y_pred = as_tensor(y_pred)
        return self.call(self._targets(y_true, y_pred), y_pred)

    def call(self, y_true, y_pred: Tensor) -> Tensor:
        """The loss of checked targets (a host or device array) and predictions."""
        raise NotImplementedError

    def check_targets(self, y, outputs: int, dtype=np.float32) -> np.ndarray:
        """`fit`'s targets for a model with `outputs` units and weights of `dtype`,
        checked and converted (float64 models train against float64 targets)."""
        y = np.asarray(y)
        return self._validate(y, (y.shape[0] if y.ndim else 1, outputs), dtype)

    def _validate(self, y: np.ndarray, pred_shape: tuple, dtype) -> np.ndarray:
        """y checked against predictions of `pred_shape`, in the form `call` takes."""
        return _finite(y, self.name).astype(dtype, copy=False)

    def _targets(self, y_true, y_pred: Tensor):
        data = y_true.data if isinstance(y_true, Tensor) else y_true
        if not isinstance(data, (np.ndarray, np.generic, list, tuple, numbers.Number)):
            return data  # a device array: checked by fit before it was uploaded
        y = np.asarray(data)
        if y.ndim == 0 or y_pred.ndim == 0 or y.shape[0] != y_pred.shape[0]:
            raise ValueError(f"{self.name}: y_true and y_pred must have the same number of "
                             f"samples, got shapes {y.shape} and {y_pred.shape}")
        return self._validate(y, y_pred.shape, y_pred.dtype)

    def get_config(self) -> dict:
        return {}


def _finite(y: np.ndarray, name: str) -> np.ndarray:
    """Numeric, finite targets (bool and ints allowed), or a clear error."""
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name}: targets must be real numbers, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name}: targets contain NaN or infinite values")
    return y


class SparseCategoricalCrossentropy(Loss):
    """Integer class ids against predicted class probabilities (or logits).

    With probabilities (`from_logits=False`), as Keras: each row is divided
    by its sum and clipped to [1e-7, 1 - 1e-7] before the log, so predictions
    outside [0, 1] are clipped, not rejected.
    """

    name, fuses_softmax, sparse = "sparse_categorical_crossentropy", True, True

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return _crossentropy(y_true, y_pred, self.from_logits, True, self.name)

    def _validate(self, y, pred_shape, dtype):
        if y.ndim == len(pred_shape) and y.shape[-1] == 1:
            y = y[..., 0]
        if y.shape != tuple(pred_shape[:-1]):
            raise ValueError(f"{self.name}: expected integer class ids of shape (samples,), "
                             f"got shape {y.shape} for predictions of shape "
                             f"{tuple(pred_shape)}; for one-hot targets use "
                             f"'categorical_crossentropy'")
        if y.dtype.kind not in "iub":
            _finite(y, self.name)
            if not np.all(np.mod(y, 1) == 0):
                raise TypeError(f"{self.name}: expected integer class ids, got dtype "
                                f"{y.dtype} holding fractional values")
        outputs = pred_shape[-1]
        if y.size and (y.min() < 0 or y.max() >= outputs):
            raise ValueError(f"{self.name}: labels must be in [0, {outputs}) for a model with "
                             f"{outputs} outputs, got values in [{y.min()}, {y.max()}]")
        return y.astype(np.int64, copy=False)

    def get_config(self):
        return {"from_logits": self.from_logits}


class CategoricalCrossentropy(SparseCategoricalCrossentropy):
    """One-hot (or soft) target distributions against predicted probabilities.

    Targets are probabilities: values outside [0, 1] raise ValueError.
    Predictions are treated as Keras treats them (see the sparse loss).
    """

    name, sparse = "categorical_crossentropy", False

    def call(self, y_true, y_pred):
        return _crossentropy(y_true, y_pred, self.from_logits, False, self.name)

    def _validate(self, y, pred_shape, dtype):
        _finite(y, self.name)
        if y.shape != tuple(pred_shape):
            raise ValueError(f"{self.name}: expected one-hot targets of shape (samples, "
                             f"{pred_shape[-1]}), got shape {y.shape} for predictions of shape "
                             f"{tuple(pred_shape)}; for integer labels use "
                             f"'sparse_categorical_crossentropy'")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{self.name}: targets must be probabilities in [0, 1], got "
                             f"values in [{y.min()}, {y.max()}]")
        return y.astype(dtype, copy=False)


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)^2). Targets must have the predictions' shape; as in
    Keras, (samples,) targets also fit (samples, 1) predictions. They are never
    reshaped to fit otherwise."""

    name = "mean_squared_error"

    def call(self, y_true, y_pred):
        target = as_tensor(y_true, y_pred.device)
        if target.dtype != y_pred.dtype:
            target = Tensor(target.data, device=y_pred.device, dtype=y_pred.dtype)
        diff = y_pred - target
        return (diff * diff).mean()

    def _validate(self, y, pred_shape, dtype):
        _finite(y, self.name)
        if y.ndim == len(pred_shape) - 1 and pred_shape[-1] == 1:
            y = y[..., None]
        if y.shape != tuple(pred_shape):
            raise ValueError(f"{self.name}: expected targets of shape (samples, "
                             f"{', '.join(str(d) for d in pred_shape[1:])}), got shape "
                             f"{y.shape}")
        return y.astype(dtype, copy=False)


def _crossentropy(y_true, y_pred: Tensor, from_logits: bool, sparse: bool, name: str) -> Tensor:
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, y_true, sparse=sparse, name=name)
    # Probabilities, as Keras 3: p / sum(p), clipped to [eps, 1 - eps], then
    # -sum(t * log p) per sample, averaged over the batch.
    p = (y_pred / y_pred.sum(axis=-1, keepdims=True)).clip(_EPSILON, 1 - _EPSILON)
    backend = get_backend(y_pred.device)
    if sparse:
        labels = backend.asarray(y_true, np.int64).reshape(-1)
        target = backend.one_hot(labels, y_pred.shape[-1], y_pred.dtype)
        target = Tensor._wrap(backend.reshape(target, y_pred.shape), y_pred.device)
    else:
        target = as_tensor(y_true, y_pred.device)
    return -(target * p.log()).sum(axis=-1).mean()


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

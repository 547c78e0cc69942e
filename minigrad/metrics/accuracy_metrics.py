"""Accuracy metrics with Keras 3's names and rules.

Each is a Mean of per-sample matches (Keras's MeanMetricWrapper). Without
sample weights the plain binary/categorical/sparse accuracies are counted by
the backend where the predictions are, so on a GPU only the count crosses to
the host; otherwise the matches are computed on the host with NumPy.
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..tensor import Tensor
from .metric import host
from .reduction_metrics import MeanMetricWrapper


def _match_rank(y_true: np.ndarray, y_pred: np.ndarray) -> tuple:
    """Keras's squeeze_or_expand_to_same_rank."""
    from .reduction_metrics import _same_rank
    return _same_rank(y_true, y_pred)


# -------------------------------------------------------------- functions
def accuracy(y_true, y_pred) -> Tensor:
    """1 where y_pred == y_true, per element."""
    y_true, y_pred = _match_rank(host(y_true), host(y_pred))
    return Tensor((y_true == y_pred).astype(np.float32))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> Tensor:
    """1 where (y_pred > threshold) == y_true, per element."""
    y_true, y_pred = _match_rank(host(y_true), host(y_pred))
    return Tensor((y_true == (y_pred > threshold)).astype(np.float32))


def categorical_accuracy(y_true, y_pred) -> Tensor:
    """1 where argmax(y_pred) == argmax(y_true), per sample."""
    return Tensor((host(y_true).argmax(-1) == host(y_pred).argmax(-1)).astype(np.float32))


def sparse_categorical_accuracy(y_true, y_pred) -> Tensor:
    """1 where argmax(y_pred) == the class id y_true, per sample."""
    y_true, y_pred = host(y_true), host(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return Tensor((y_pred.argmax(-1) == y_true).astype(np.float32))


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether each label's score ranks in the top k (ties count in, as Keras's
    in_top_k; a NaN score never does)."""
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    at_label = np.take_along_axis(y_pred, labels.reshape(-1, 1).astype(np.int64), axis=-1)
    at_label = np.where(np.isnan(at_label), -np.inf, at_label)
    return (1 + (y_pred > at_label).sum(-1)) <= k


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> Tensor:
    """1 where argmax(y_true) is among the k highest predictions, per sample."""
    labels = host(y_true).argmax(-1)
    return Tensor(_in_top_k(labels, host(y_pred), k).reshape(labels.shape).astype(np.float32))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5,
                                      from_sorted_ids: bool = False) -> Tensor:
    """1 where the class id y_true is among the k highest predictions (or, with
    `from_sorted_ids`, among the first k ids of y_pred), per sample."""
    labels, y_pred = host(y_true), host(y_pred)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if from_sorted_ids:
        hit = (y_pred.reshape(-1, y_pred.shape[-1])[:, :k] == labels.reshape(-1, 1)).any(-1)
    else:
        hit = _in_top_k(labels, y_pred, k)
    return Tensor(hit.reshape(labels.shape).astype(np.float32))


# ---------------------------------------------------------------- classes
class _CountedOnDevice(MeanMetricWrapper):
    """An accuracy the backend can count where the predictions are (`kind`)."""

    kind = ""

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        device = y_pred.device if isinstance(y_pred, Tensor) else "cpu"
        labels, pred = _raw(y_true), _raw(y_pred)
        if sample_weight is None and len(pred.shape) >= 1 and \
                tuple(labels.shape)[:1] == tuple(pred.shape)[:1] and \
                self._countable(labels, pred):
            backend = get_backend(device)
            rows = int(np.prod(tuple(pred.shape)[:-1]))
            count = int(np.prod(pred.shape)) if self.kind == "binary" else rows
            self._add(float(backend.count_correct(labels, pred, self.kind)), count)
            return
        super().update_state(y_true, y_pred, sample_weight)

    def _countable(self, labels, pred) -> bool:
        """Whether the kernel's rule gives Keras's result for these shapes."""
        raise NotImplementedError


def _raw(x):
    """A Tensor's array, a device array as it is, anything else as a NumPy array."""
    if isinstance(x, Tensor):
        return x.data
    return x if hasattr(x, "copy_to_host") else np.asarray(x)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(_CountedOnDevice):
    """How often (y_pred > threshold) matches the binary labels."""

    kind = "binary"

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = float(threshold)

    def _countable(self, labels, pred):
        # the kernel compares with 0.5 and reads the labels as (true > 0.5)
        return self.threshold == 0.5 and int(np.prod(labels.shape)) == \
            int(np.prod(pred.shape)) and _binary_labels(labels)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


def _binary_labels(labels) -> bool:
    """Labels are 0/1 (a device array from fit was checked there)."""
    if not isinstance(labels, np.ndarray):
        return True
    return bool(np.all((labels == 0) | (labels == 1)))


class CategoricalAccuracy(_CountedOnDevice):
    """How often argmax(y_pred) equals argmax of the one-hot labels."""

    _argmax_only = True  # the same on logits as on probabilities

    kind = "categorical"

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)

    def _countable(self, labels, pred):
        return tuple(labels.shape) == tuple(pred.shape)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(_CountedOnDevice):
    """How often argmax(y_pred) equals the integer labels."""

    _argmax_only = True  # the same on logits as on probabilities

    kind = "sparse"

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def _countable(self, labels, pred):
        return len(pred.shape) == 2 and tuple(labels.shape) in ((pred.shape[0],),
                                                                 (pred.shape[0], 1))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label is among the k highest predictions."""

    _argmax_only = True  # the same on logits as on probabilities

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the k highest predictions."""

    _argmax_only = True  # the same on logits as on probabilities

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids: bool = False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k, self.from_sorted_ids = k, from_sorted_ids

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config

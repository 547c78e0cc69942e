"""Metrics: running results over an epoch, counted where the predictions are."""
from __future__ import annotations

import numpy as np

from .backends import get_backend
from .tensor import Tensor


class Metric:
    """A running result. `update(y_true, y_pred)` gets the batch targets as an array
    on the model's device (NumPy on the CPU) and the model's output Tensor."""

    def __init__(self, name: str):
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def result(self) -> float:
        return self.total / max(self.count, 1)


class Accuracy(Metric):
    """Share of samples predicted right; how 'right' is read depends on the targets.

    kind 'sparse': argmax(pred) == label; 'categorical': argmax(pred) ==
    argmax(target); 'binary': (pred > 0.5) == target, per element. Counted by
    the backend, so on a GPU only the count crosses to the host.
    """

    def __init__(self, name: str = "accuracy", kind: str = "sparse"):
        self.kind = kind
        super().__init__(name)

    def update(self, y_true, y_pred) -> None:
        if isinstance(y_pred, Tensor):
            backend, y_pred = get_backend(y_pred.device), y_pred.data
        else:
            backend, y_pred = get_backend("cpu"), np.asarray(y_pred)
        self.total += backend.count_correct(y_true, y_pred, self.kind)
        self.count += y_pred.size if self.kind == "binary" else \
            y_pred.size // tuple(y_pred.shape)[-1]


def get(identifier, loss, outputs: int) -> Metric:
    """A metric by Keras name; 'accuracy' picks its kind from the loss, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        if getattr(loss, "sparse", False):
            kind = "sparse"
        else:
            kind = "binary" if outputs == 1 else "categorical"
        return Accuracy(identifier, kind)
    named = {"sparse_categorical_accuracy": "sparse", "categorical_accuracy": "categorical",
             "binary_accuracy": "binary"}
    if isinstance(identifier, str) and identifier.lower() in named:
        return Accuracy(identifier.lower(), named[identifier.lower()])
    raise ValueError(f"compile: unknown metric {identifier!r}; expected 'accuracy', "
                     f"{sorted(named)} or a minigrad.metrics.Metric")

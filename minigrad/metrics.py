"""Metrics: running results over an epoch, computed on the host from predictions."""
from __future__ import annotations

import numpy as np


class Metric:
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
    argmax(target); 'binary': (pred > 0.5) == target, per element.
    """

    def __init__(self, name: str = "accuracy", kind: str = "sparse"):
        self.kind = kind
        super().__init__(name)

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if self.kind == "binary":
            right = (y_pred > 0.5) == (np.asarray(y_true).reshape(y_pred.shape) > 0.5)
        elif self.kind == "categorical":
            right = y_pred.argmax(-1) == np.asarray(y_true).argmax(-1)
        else:
            right = y_pred.argmax(-1) == np.asarray(y_true).reshape(-1)
        self.total += float(right.sum())
        self.count += right.size


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

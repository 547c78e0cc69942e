"""Callbacks that watch one logged value: EarlyStopping and ReduceLROnPlateau
(Keras 3's), on the direction rule they share with ModelCheckpoint."""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .callback import Callback


class MonitorCallback(Callback):
    """Watches `monitor` in the epoch logs. mode 'min'/'max', or 'auto': 'loss' and
    'val_loss' decrease; a compiled metric of that name says its direction (accuracy,
    AUC, precision, recall: up; errors: down); other names ending in 'acc'/'accuracy'
    go up and the rest down (tf.keras's rule, where Keras 3 would raise)."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline=None,
                 min_delta: float = 0.0):
        super().__init__()
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"{owner}: `monitor` must be a log name such as 'val_loss', got "
                            f"{monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: `mode` must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.min_delta = abs(_number(min_delta, "min_delta", owner))
        self.best = baseline
        self._direction = None if mode == "auto" else mode
        self._warned = False

    def _resolve_direction(self) -> str:
        """'min' or 'max'; for 'auto', decided once the model's metrics exist."""
        if self._direction is None:
            name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
            direction = None
            if name == "loss":
                direction = "min"
            for m in getattr(self.model, "metrics", None) or []:
                if getattr(m, "name", None) == name and hasattr(m, "_direction"):
                    direction = "max" if m._direction == "up" else "min"
            if direction is None:
                direction = "max" if name.endswith(("acc", "accuracy")) else "min"
            self._direction = direction
        return self._direction

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        if self._resolve_direction() == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _current(self, logs: dict, what: str):
        value = (logs or {}).get(self.monitor)
        if value is None and not self._warned:
            warnings.warn(f"{what} conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs or {})}",
                          stacklevel=3)
            self._warned = True
        return value


class EarlyStopping(MonitorCallback):
    """Stops when `monitor` has not improved by `min_delta` for `patience` epochs.

    Keras 3's semantics: the first monitored value is the first best; with a
    `baseline`, the patience count restarts only on epochs that beat both the
    best so far and the baseline; epochs before `start_from_epoch` are not
    monitored. With `restore_best_weights=True` the weights of the best epoch
    are restored at the end of training whether or not it stopped early. A
    `monitor` missing from the logs (e.g. 'val_loss' without validation data)
    gives a warning that lists the logged names; `verbose=1` prints when it
    stops and restores.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = _count(patience, "patience")
        self.start_from_epoch = _count(start_from_epoch, "start_from_epoch")
        self.verbose = int(verbose) if isinstance(verbose, bool) else _count(verbose, "verbose")
        self.baseline = None if baseline is None else _number(baseline, "baseline",
                                                              "EarlyStopping")
        self.restore_best_weights = bool(restore_best_weights)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        # as in Keras, one instance can be reused across fit() calls
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = self.best_weights = None
        self._warned = False

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` has not improved by
    `min_delta` for `patience` epochs, then waits `cooldown` epochs; never below
    `min_lr`. Logs the learning rate as 'learning_rate'."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, **kwargs):
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected keyword argument(s) "
                            f"{sorted(kwargs)}")
        super().__init__(monitor, mode, min_delta=min_delta)
        factor = _number(factor, "factor", "ReduceLROnPlateau")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received "
                             f"factor={factor}")
        self.factor, self.min_lr = factor, _number(min_lr, "min_lr", "ReduceLROnPlateau")
        self.patience = _count(patience, "patience", "ReduceLROnPlateau")
        self.cooldown = _count(cooldown, "cooldown", "ReduceLROnPlateau")
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(np.asarray(optimizer.learning_rate))
        current = self._current(logs, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old = float(np.asarray(optimizer.learning_rate))
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning "
                              f"rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


def _count(value, arg: str, owner: str = "EarlyStopping") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{owner}: `{arg}` must be an int >= 0, got {value!r}")
    return int(value)


def _number(value, arg: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value):
        raise ValueError(f"{owner}: `{arg}` must be a finite number, got {value!r}")
    return float(value)

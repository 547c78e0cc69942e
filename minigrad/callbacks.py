"""Keras-style callbacks: History (always on), TerminateOnNaN, ModelCheckpoint, EarlyStopping."""
from __future__ import annotations

import math

import numpy as np


class Callback:
    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass


class History(Callback):
    """`history.history` maps each logged name to its per-epoch values."""

    def __init__(self):
        self.history: dict = {}
        self.epoch: list = []
        self.params: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class TerminateOnNaN(Callback):
    """Stops training, with a message, as soon as a batch loss is NaN or infinite.

    `fit` adds one unless the callbacks already hold one.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
            self.model.stop_reason = (f"TerminateOnNaN: batch {batch} produced loss {loss}; "
                                      f"training stopped (try a lower learning rate)")


def _improved(monitor: str, mode: str):
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b), mode


class ModelCheckpoint(Callback):
    """Saves the model (weights, optimizer state) at each epoch end, or only when
    `monitor` improves with `save_best_only=True`. The path may hold
    `{epoch}` and log names: 'ckpt-{epoch:02d}.npz'."""

    def __init__(self, filepath: str, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", verbose: int = 0):
        self.filepath, self.monitor = str(filepath), monitor
        self.save_best_only, self.verbose = save_best_only, verbose
        self.better, mode = _improved(monitor, mode)
        self.best = np.inf if mode == "min" else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None or not self.better(value, self.best):
                return
            self.best = value
        self.model.save(path, epoch=epoch + 1)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")


class EarlyStopping(Callback):
    """Stops when `monitor` has not improved by `min_delta` for `patience` epochs."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False):
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta, self.restore_best_weights = abs(float(min_delta)), restore_best_weights
        self.better, self.mode = _improved(monitor, mode)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None
        self.best = np.inf if self.mode == "min" else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        shifted = value + self.min_delta if self.mode == "min" else value - self.min_delta
        if self.better(shifted, self.best):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)

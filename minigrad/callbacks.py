"""Keras-style callbacks: History (always on), ProgbarLogger, TerminateOnNaN, ModelCheckpoint,
EarlyStopping."""
from __future__ import annotations

import math
import numbers
import os
import sys
import tempfile
import time
import warnings

import numpy as np
from tqdm.auto import tqdm


class Callback:
    model = None
    params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


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


class ProgbarLogger(Callback):
    """The progress bar (tqdm) of fit, evaluate and predict, as Keras's ProgbarLogger.

    fit: one bar per epoch with the running loss and metrics, the validation
    figures joining at the epoch's end (`verbose=1`), or one line per epoch
    (`verbose=2`). `fit` adds one unless the callbacks already hold one;
    evaluate and predict show one with `verbose=1`.
    """

    def __init__(self):
        self._bar = None
        self._start = 0.0

    def _open(self, desc: str, **kwargs) -> None:
        self._bar = tqdm(total=self.params.get("steps"), desc=desc, unit="batch",
                         disable=self.params.get("verbose", 1) != 1, file=sys.stdout, **kwargs)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._open(f"Epoch {epoch + 1}/{self.params['epochs']}", dynamic_ncols=True,
                   mininterval=0.25)

    def on_train_batch_end(self, batch, logs=None):
        self._bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items()}, refresh=False)
        self._bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
        self._close()
        if self.params.get("verbose") == 2:
            print(f"Epoch {epoch + 1}/{self.params['epochs']} - "
                  f"{time.perf_counter() - self._start:.1f}s - " +
                  " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))

    def on_test_begin(self, logs=None):
        self._open("evaluate")

    def on_test_batch_end(self, batch, logs=None):
        self._bar.update(1)

    def on_test_end(self, logs=None):
        self._close()

    def on_predict_begin(self, logs=None):
        self._open("predict")

    def on_predict_batch_end(self, batch, logs=None):
        self._bar.update(1)

    def on_predict_end(self, logs=None):
        self._close()


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


def _improved(monitor: str, mode: str, owner: str):
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"{owner}: `monitor` must be a log name such as 'val_loss', got "
                        f"{monitor!r}")
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: `mode` must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b), mode


class ModelCheckpoint(Callback):
    """Saves the model at each epoch end, or only when `monitor` improves with
    `save_best_only=True`. The path may hold `{epoch}` and log names:
    'ckpt-{epoch:02d}.npz'.

    A checkpoint holds what the rest of the run depends on (weights, optimizer
    state, minigrad's random state at the end of the epoch), and is written
    atomically: resume with `load_model(path)` then `fit(..., initial_epoch=
    epoch)` (the saved epoch count) for the same result as an unbroken run.
    An epoch whose loss is NaN or infinite is never saved, so the last good
    checkpoint survives a diverged run. With `save_best_only`, pass the best
    value so far as `initial_value_threshold` when resuming (as in Keras).
    The path is checked when training begins: an existing folder, or a folder
    that cannot be made or written, raises then (an OSError), not after the
    first epoch; missing folders are made, as in Keras.
    """

    def __init__(self, filepath, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", verbose: int = 0, initial_value_threshold=None):
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: `filepath` must be a str or os.PathLike, got "
                            f"{type(filepath).__name__}")
        self.filepath, self.monitor = os.fspath(filepath), monitor
        self.save_best_only, self.verbose = bool(save_best_only), verbose
        self.better, mode = _improved(monitor, mode, "ModelCheckpoint")
        self.best = np.inf if mode == "min" else -np.inf
        if initial_value_threshold is not None:
            self.best = _number(initial_value_threshold, "initial_value_threshold",
                                "ModelCheckpoint")
        self._warned = False

    def on_train_begin(self, logs=None):
        """Check the filepath's fields and its folder before training, not after the
        first epoch."""
        names = ["loss"] + [m.name for m in getattr(self.model, "metrics", [])]
        _check_writable(self._path(0, {k: 0.0 for n in names for k in (n, f"val_{n}")}))

    def _path(self, epoch, logs) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot format filepath {self.filepath!r} "
                             f"with epoch and logs {sorted(logs)}: {e!r}") from None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not all(math.isfinite(v) for v in logs.values() if isinstance(v, numbers.Real)) or \
                not all(np.isfinite(w).all() for w in self.model.get_weights()):
            warnings.warn(f"ModelCheckpoint: epoch {epoch + 1} ended with a non-finite loss "
                          f"or weights ({logs}); not saving it over the last good checkpoint",
                          RuntimeWarning, stacklevel=2)
            return
        path = self._path(epoch, logs)
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                if not self._warned:
                    warnings.warn(f"ModelCheckpoint: `monitor` {self.monitor!r} is not in the "
                                  f"logs {sorted(logs)}; nothing is saved", RuntimeWarning,
                                  stacklevel=2)
                    self._warned = True
                return
            if not self.better(value, self.best):
                return
            self.best = value
        folder = os.path.dirname(path)
        if folder:  # as Keras: missing folders are made
            os.makedirs(folder, exist_ok=True)
        self.model.save(path, epoch=epoch + 1)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")


def _check_writable(path: str) -> None:
    """Raise now if checkpoints cannot be written to `path`: it is a folder, or its
    folder cannot be made or written (the nearest existing one is probed)."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"ModelCheckpoint: `filepath` {path!r} is an existing folder; "
                                f"give a file path such as "
                                f"{os.path.join(path, 'model.keras')!r}")
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(f"ModelCheckpoint: cannot make the folder {folder!r} for "
                                 f"{path!r}: {existing!r} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        where = repr(folder) if existing == folder else f"{folder!r} (in {existing!r})"
        raise PermissionError(f"ModelCheckpoint: cannot write checkpoints to {where}: "
                              f"{e.strerror or e}") from None


class EarlyStopping(Callback):
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
        self.monitor = monitor
        self.patience = _count(patience, "patience")
        self.start_from_epoch = _count(start_from_epoch, "start_from_epoch")
        self.min_delta = abs(_number(min_delta, "min_delta", "EarlyStopping"))
        self.verbose = int(verbose) if isinstance(verbose, bool) else _count(verbose, "verbose")
        self.baseline = None if baseline is None else _number(baseline, "baseline",
                                                              "EarlyStopping")
        self.restore_best_weights = bool(restore_best_weights)
        self.better, self.mode = _improved(monitor, mode, "EarlyStopping")
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        # as in Keras, one instance can be reused across fit() calls
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = self.best_weights = None
        self._warned = False

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        shifted = value + self.min_delta if self.mode == "min" else value - self.min_delta
        return self.better(shifted, reference)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            if not self._warned:
                warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is "
                              f"not available. Available metrics are: {','.join(logs)}",
                              stacklevel=2)
                self._warned = True
            return
        if epoch < self.start_from_epoch:
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


def _count(value, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"EarlyStopping: `{arg}` must be an int >= 0, got {value!r}")
    return int(value)


def _number(value, arg: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value):
        raise ValueError(f"{owner}: `{arg}` must be a finite number, got {value!r}")
    return float(value)

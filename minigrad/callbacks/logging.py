"""Callbacks that record or show what training does: History, ProgbarLogger,
CSVLogger, TerminateOnNaN, LambdaCallback, LearningRateScheduler (Keras 3's)."""
from __future__ import annotations

import collections
import csv
import math
import numbers
import os
import sys
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from ..distribution.distribution_lib import writes_files
from .callback import Callback


class History(Callback):
    """`history.history` maps each logged name to its per-epoch values; fit returns it."""

    def __init__(self):
        super().__init__()
        self.history: dict = {}
        self.epoch: list = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """The progress display of fit, evaluate and predict (Keras's ProgbarLogger).

    verbose=1: a tqdm bar per epoch (or per evaluate/predict call) with the
    running loss and metrics; verbose=2: Keras's one line at the end,
    '8/8 - 0s - 3ms/step - loss: 0.1353 - accuracy: 0.9615', after an
    'Epoch 1/3' header when fitting several epochs. Inside fit, validation
    shows nothing of its own: its figures join the epoch's line.
    """

    def __init__(self):
        super().__init__()
        self.verbose, self.epochs, self.target = 1, 1, None
        self._bar = None
        self._start = 0.0
        self._seen = 0
        self._called_in_fit = False

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _open(self, desc: str, **kwargs) -> None:
        self._start, self._seen = time.perf_counter(), 0
        if self.verbose == 1:
            self._bar = tqdm(total=self.target, desc=desc, unit="batch", file=sys.stdout,
                             **kwargs)

    def _update(self, batch: int, logs: dict | None) -> None:
        self._seen = batch + 1
        if self._bar is not None:
            if logs:
                self._bar.set_postfix({k: _fmt(v) for k, v in logs.items()}, refresh=False)
            self._bar.update(self._seen - self._bar.n)

    def _close(self, logs: dict | None) -> None:
        if self._bar is not None:
            if logs:
                self._bar.set_postfix({k: _fmt(v) for k, v in logs.items()})
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            steps = self.target if self.target else self._seen
            elapsed = time.perf_counter() - self._start
            digits = int(math.log10(steps)) + 1 if steps else 1
            line = f"{self._seen:{digits}d}/{steps} - {elapsed:.0f}s -" + \
                _format_time(elapsed / max(self._seen, 1), "step")
            line += "".join(f" - {k}: {_fmt(v)}" for k, v in (logs or {}).items())
            print(line, flush=True)

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose == 2 and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self._open(f"Epoch {epoch + 1}/{self.epochs}", dynamic_ncols=True, mininterval=0.25)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._close(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._open("evaluate")

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._close(logs)

    def on_predict_begin(self, logs=None):
        self._open("predict")

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._close(None)


def _fmt(value) -> str:
    """A log value as Keras's progress bar shows it."""
    try:
        v = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        return str(value)
    return f"{v:.4f}" if abs(v) > 1e-3 or v == 0 else f"{v:.4e}"


def _format_time(time_per_unit: float, unit_name: str) -> str:
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch loss is NaN or infinite (with
    `raise_error=True`, raises RuntimeError instead). `fit` adds one unless the
    callbacks already hold one; the reason is given as a warning when fit ends."""

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(np.asarray(loss).reshape(()))):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                                   f"{loss}. Terminating training immediately.")
            self.model.stop_training = True
            self.model.stop_reason = (f"TerminateOnNaN: batch {batch} produced loss {loss}; "
                                      f"training stopped (try a lower learning rate)")


class LambdaCallback(Callback):
    """A callback from functions: `on_epoch_begin(epoch, logs)`, `on_epoch_end(epoch,
    logs)`, `on_train_begin(logs)`, `on_train_end(logs)`, `on_train_batch_begin(batch,
    logs)`, `on_train_batch_end(batch, logs)` (and any other hook by keyword)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        from .callback import HOOKS
        unknown = sorted(set(kwargs) - set(HOOKS) - {"on_batch_begin", "on_batch_end"})
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook(s) {unknown}; hooks are "
                            f"{sorted(HOOKS)}")
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: `{name}` must be callable, got {fn!r}")
                setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at each epoch start to
    `schedule(epoch, lr)` (or `schedule(epoch)`), and logs it as 'learning_rate'."""

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: `schedule` must be callable, got "
                            f"{schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:  # the new API: schedule(epoch, lr)
            lr = self.schedule(epoch, float(np.asarray(optimizer.learning_rate)))
        except TypeError:  # the old one: schedule(epoch)
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (numbers.Real, np.floating)) or \
                not math.isfinite(lr):
            raise ValueError(f"The output of the `schedule` function should be a float. "
                             f"Got: {lr!r}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file: an 'epoch' column, then the log names
    in sorted order (val_ columns added when there are none yet)."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"CSVLogger: `filename` must be a str or os.PathLike, got "
                            f"{type(filename).__name__}")
        self.sep, self.filename, self.append = separator, os.fspath(filename), append
        self.writer = self.keys = self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if not writes_files():  # under data parallelism rank 0 writes the file
            return
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self.append_header = not bool(len(f.readline()))
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self.csv_file is None:  # not this process's to write
            return
        logs = logs or {}

        def handle_value(v):
            if isinstance(v, str):
                return v
            if isinstance(v, collections.abc.Iterable) and \
                    not (isinstance(v, np.ndarray) and v.ndim == 0):
                return f'"[{", ".join(map(str, v))}]"'
            return v

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, handle_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def warn_missing(owner: str, monitor: str, logs: dict) -> None:
    warnings.warn(f"{owner} conditioned on metric `{monitor}` which is not available. "
                  f"Available metrics are: {','.join(logs)}", stacklevel=3)

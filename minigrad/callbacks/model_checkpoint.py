"""Callbacks that write training state to disk: ModelCheckpoint and BackupAndRestore."""
from __future__ import annotations

import json
import math
import numbers
import os
import shutil
import tempfile
import warnings

import numpy as np

from ..distribution.distribution_lib import writes_files
from .callback import Callback
from .monitor import MonitorCallback, _number


def _save_freq(value, owner: str):
    if value != "epoch" and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                             or value < 1):
        raise ValueError(f"{owner}: Unrecognized save_freq: {value!r}. Expected save_freq are "
                         f"'epoch' or a positive integer (a number of batches)")
    return value


class _BatchCounter:
    """Keras's rule for `save_freq=N`: save after every N batches seen, across epochs."""

    def __init__(self, every: int):
        self.every, self.seen, self.last = every, 0, None

    def step(self, batch: int) -> bool:
        self.seen += batch + 1 if self.last is None or batch <= self.last else batch - self.last
        self.last = batch
        if self.seen >= self.every:
            self.seen = 0
            return True
        return False


class ModelCheckpoint(MonitorCallback):
    """Saves the model at each epoch end (or every `save_freq` batches), or only when
    `monitor` improves with `save_best_only=True`; `save_weights_only=True` saves
    with `model.save_weights(path)`. The path may hold `{epoch}`, `{batch}` and log
    names: 'ckpt-{epoch:02d}.npz'. Its suffix says the format, as in Keras 3:
    `.keras` or `.npz` for models, `.weights.h5` or `.npz` for weights only.

    A checkpoint holds what the rest of the run depends on (weights, optimizer
    state, minigrad's random state at the end of the epoch), and is written
    atomically: resume with `load_model(path)` then `fit(..., initial_epoch=
    epoch)` (the saved epoch count) for the same result as an unbroken run.
    An epoch whose loss is NaN or infinite is never saved, so the last good
    checkpoint survives a diverged run. Under data parallelism only rank 0
    writes (every process holds the same state). With `save_best_only`, pass
    the best value so far as `initial_value_threshold` when resuming (as in
    Keras).
    The path is checked when training begins: an existing folder, or a folder
    that cannot be made or written, raises then (an OSError), not after the
    first epoch; missing folders are made, as in Keras.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq="epoch", initial_value_threshold=None):
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: `filepath` must be a str or os.PathLike, got "
                            f"{type(filepath).__name__}")
        threshold = None if initial_value_threshold is None else \
            _number(initial_value_threshold, "initial_value_threshold", "ModelCheckpoint")
        super().__init__(monitor, mode, baseline=threshold)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.save_freq = _save_freq(save_freq, "ModelCheckpoint")
        self._batches = None if save_freq == "epoch" else _BatchCounter(save_freq)
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        """Check the save method, the filepath's fields and its folder before training,
        not after the first epoch."""
        from ..saving.saving_api import MODEL_SUFFIXES, WEIGHTS_SUFFIXES, check_suffix
        names = ["loss"] + [m.name for m in getattr(self.model, "metrics", [])]
        fields = {k: 0.0 for n in names for k in (n, f"val_{n}")}
        path = self._path(0, None if self.save_freq == "epoch" else 0, fields)
        if writes_files():  # under data parallelism rank 0 writes the checkpoints
            _check_writable(path)
        # as Keras 3: the suffix says the format (checked on the formatted path, so
        # that '{epoch}' templates work)
        if self.save_weights_only:
            check_suffix(path, WEIGHTS_SUFFIXES, "ModelCheckpoint(save_weights_only=True)")
        else:
            check_suffix(path, MODEL_SUFFIXES, "ModelCheckpoint")

    def _path(self, epoch: int, batch, logs: dict) -> str:
        try:
            extra = {} if batch is None or "batch" in logs else {"batch": batch + 1}
            return self.filepath.format(epoch=epoch + 1, **extra, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot format filepath {self.filepath!r} "
                             f"with epoch and logs {sorted(logs)}: {e!r}") from None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._batches is not None and self._batches.step(batch):
            self._save(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch, logs: dict) -> None:
        writes = writes_files()  # every process keeps `best`; rank 0 alone writes
        if not all(math.isfinite(v) for v in logs.values() if isinstance(v, numbers.Real)) or \
                not all(np.isfinite(w).all() for w in self.model.get_weights()):
            warnings.warn(f"ModelCheckpoint: epoch {epoch + 1} ended with a non-finite loss "
                          f"or weights ({logs}); not saving it over the last good checkpoint",
                          RuntimeWarning, stacklevel=3)
            return
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            current = self._current(logs, "ModelCheckpoint (save_best_only)")
            if current is None:
                return
            best = "None" if self.best is None else f"{self.best:.5f}"
            if not self._is_improvement(current, self.best):
                if self.verbose > 0 and writes:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose > 0 and writes:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0 and writes:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if not writes:
            return
        folder = os.path.dirname(path)
        if folder:  # as Keras: missing folders are made
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path, epoch=epoch + (1 if batch is None else 0))


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


class BackupAndRestore(Callback):
    """Backs up the training state to `backup_dir` at each epoch end (or every
    `save_freq` batches) and, when fit starts again after an interruption,
    restores it and resumes from the epoch after the last backup. The backup is
    a full checkpoint (weights, optimizer state, random state: the resumed run
    repeats the unbroken one), written atomically; with `double_checkpoint=True`
    the previous backup is kept too, and used if the latest is unreadable. The
    folder is deleted when training ends, unless `delete_checkpoint=False`.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint: bool = False,
                 delete_checkpoint: bool = True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = _save_freq(save_freq, "BackupAndRestore")
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self._batches = None if save_freq == "epoch" else _BatchCounter(save_freq)
        self._path = os.path.join(self.backup_dir, "latest.npz")
        self._meta_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(f"To use the BackupAndRestore callback, your model must be built "
                             f"before you call `fit()`. Model {self.model.name!r} is unbuilt. "
                             f"You can build it beforehand by calling it on a batch of data.")
        for suffix in ("", ".bkp"):
            try:
                if self._restore(suffix):
                    return
            except (OSError, ValueError, KeyError) as e:
                if suffix or not os.path.exists(self._path + ".bkp"):
                    raise ValueError(f"BackupAndRestore: the backup in {self.backup_dir!r} "
                                     f"cannot be restored ({type(e).__name__}: {e})") from None

    def _restore(self, suffix: str) -> bool:
        if not os.path.exists(self._path + suffix):
            return False
        from ..models import load_model  # the saved model, to copy its state from
        saved = load_model(self._path + suffix)
        self.model.set_weights(saved.get_weights())
        if self.model.optimizer is not None and saved.optimizer is not None:
            iterations, slots = saved.optimizer.get_state()
            self.model.optimizer.set_state(iterations, slots, self.model.trainable_weights)
        with open(self._meta_path + suffix) as f:
            meta = json.load(f)
        with np.load(self._path + suffix, allow_pickle=False) as data:
            self.model._set_random_states(json.loads(bytes(data["config"]).decode()))
        self.model._initial_epoch = int(meta["epoch"])
        return True

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        if self.save_freq == "epoch":
            self._backup(epoch + 1)

    def on_train_batch_end(self, batch, logs=None):
        if self._batches is not None and self._batches.step(batch):
            self._backup(self._current_epoch)

    def _backup(self, epoch: int) -> None:
        if not writes_files():  # under data parallelism rank 0 writes
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._path):
            shutil.copyfile(self._path, self._path + ".bkp")
            shutil.copyfile(self._meta_path, self._meta_path + ".bkp")
        self.model.save(self._path, epoch=epoch)
        tmp = self._meta_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"epoch": epoch}, f)
        os.replace(tmp, self._meta_path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and writes_files() and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)

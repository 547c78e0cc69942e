"""Which format a path means, as Keras 3 decides it by the suffix: `.keras` (the
Keras format), `.weights.h5` (Keras's weights), `.npz` (minigrad's own model
file, or minigrad's weights); anything else is a ValueError naming the
suffixes accepted."""
from __future__ import annotations

import os

import numpy as np

from . import weights_store
from .file_utils import atomic_write

MODEL_SUFFIXES = (".keras", ".npz")
WEIGHTS_SUFFIXES = (".weights.h5", ".npz")


def _path(filepath, what: str) -> str:
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"{what}: `filepath` must be a str or os.PathLike, got "
                        f"{type(filepath).__name__}")
    return os.fspath(filepath)


def check_suffix(filepath, accepted: tuple, what: str) -> str:
    path = _path(filepath, what)
    if not path.lower().endswith(accepted):
        raise ValueError(f"{what}: the filepath must end in {' or '.join(accepted)} "
                         f"({', '.join(_meaning(s) for s in accepted)}). Received: "
                         f"filepath={path}")
    return path


def _meaning(suffix: str) -> str:
    return {".keras": ".keras: the Keras 3 format", ".weights.h5": ".weights.h5: Keras 3's "
            "weights format", ".npz": ".npz: minigrad's own format"}[suffix]


def save_model(model, filepath, epoch: int | None = None) -> None:
    """`model.save`: `.keras` (loadable by Keras 3) or `.npz` (minigrad's), atomically."""
    path = check_suffix(filepath, MODEL_SUFFIXES, "save")
    if path.lower().endswith(".keras"):
        from .keras_file import save_keras
        save_keras(model, path, epoch=epoch)
    else:
        from ..models.saving import save_model as save_npz
        save_npz(model, path, epoch=epoch)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True):
    """A model from a `.keras` file (minigrad's or Keras 3's) or minigrad's `.npz`."""
    path = _path(filepath, "load_model")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: `custom_objects` must be a dict, got "
                        f"{type(custom_objects).__name__}")
    if path.lower().endswith(".keras"):
        if not os.path.exists(path):
            raise FileNotFoundError(f"load_model: no such file: {path!r}")
        from .keras_file import load_keras
        return load_keras(path, custom_objects, compile)
    from ..models.saving import load_model as load_npz
    return load_npz(path, custom_objects=custom_objects, compile=compile)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Every weight (and the optimizer's state) in Keras 3's layout, to a
    `.weights.h5` file or minigrad's `.npz` weights, atomically."""
    path = check_suffix(filepath, WEIGHTS_SUFFIXES, "save_weights")
    model._require_built("save_weights")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_weights: {path!r} exists and overwrite=False")
    if path.lower().endswith(".npz"):
        arrays = weights_store.weights_dict(model)
        atomic_write(path, lambda f: np.savez(f, **arrays))
        return
    weights_store.require_h5py()
    data = weights_store.h5_bytes(model)
    atomic_write(path, lambda f: f.write(data))


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Weights from a `.weights.h5` file (Keras's or minigrad's), a `.keras` archive
    or minigrad's `.npz` weights; checked in full before any is assigned."""
    path = check_suffix(filepath, WEIGHTS_SUFFIXES + (".keras",), "load_weights")
    model._require_built("load_weights")
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: no such file: {path!r}")
    try:
        arrays = _read_weights(path)
        optimizer_values = weights_store.assign(model, arrays, repr(path), skip_mismatch)
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001 - any defect of the file is a ValueError naming it
        if isinstance(e, ValueError) and str(e).startswith(repr(path)):
            raise
        raise ValueError(f"load_weights: {path!r} is not a readable weights file "
                         f"({type(e).__name__}: {e})") from None
    if getattr(model, "optimizer", None) is not None and model.optimizer.built:
        weights_store.restore_optimizer(model, optimizer_values, repr(path))


def _read_weights(path: str) -> dict:
    lower = path.lower()
    if lower.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            if "config" in data.files:
                raise ValueError("this is a whole-model file written by model.save; load it "
                                 "with mg.load_model")
            return {k: data[k] for k in data.files}
    if lower.endswith(".keras"):
        from .keras_file import _read
        return _read(path)[2]
    with open(path, "rb") as f:
        return weights_store.read_h5(f)

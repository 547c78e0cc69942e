"""Saving a model to one .npz file and loading it back, validated before use.

The file holds a JSON config (the model's structure, the compile settings, the
epoch and the random state a resumed run needs) and the arrays: weights
(`weight_0000`, ...) and optimizer slots (`optimizer_0000`, ...). A Sequential
is written in the original layout (version 1); functional and subclassed
models carry their class name (version 2). Writes are atomic (a temporary file
beside the target, then a rename); a load reads and checks every array and
every config entry against the rebuilt model before anything is used, and any
defect is a ValueError naming the file.
"""
from __future__ import annotations

import inspect
import json
import os
import secrets

import numpy as np

from .. import losses as losses_mod
from .. import optimizers as optimizers_mod
from .. import random
from ..layers.base import LAYER_CLASSES, Layer

FORMAT = "minigrad.Sequential"   # the format's name since version 1 (it holds any model)


class _UnknownClass(Exception):
    pass


# ------------------------------------------------------------- structure
def serialize_layer(layer: Layer) -> dict:
    from .model import Model
    if isinstance(layer, Model):
        return serialize_model(layer)
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def serialize_model(model) -> dict:
    """{"class_name", "config"} of a model; a subclassed model also keeps the shape
    it was built for, to make its weights again when loaded."""
    entry = {"class_name": type(model).__name__, "config": model.get_config()}
    from .functional import Functional
    from .model import Model
    from .sequential import Sequential
    if not isinstance(model, (Functional, Sequential)):
        entry["build_input_shape"] = model._build_input_shape
        if type(model).from_config.__func__ is Model.from_config.__func__:
            try:  # what load_model will do: cls(**config)
                inspect.signature(type(model).__init__).bind(None, **entry["config"])
            except TypeError as e:
                raise ValueError(
                    f"model {model.name!r} ({type(model).__name__}) cannot be saved: "
                    f"load_model would rebuild it as {type(model).__name__}(**"
                    f"{entry['config']}), which fails ({e}). Its constructor takes values "
                    f"minigrad cannot record; define get_config() returning its arguments "
                    f"(and from_config if needed).") from None
    return entry


def deserialize_layer(spec, custom_objects: dict | None = None) -> Layer:
    """A layer (or model) from {"class_name", "config"}."""
    from .model import Model
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) or \
            not isinstance(spec.get("config"), dict):
        raise ValueError(f"a layer entry must be {{'class_name': str, 'config': dict}}, got "
                         f"{spec!r:.120}")
    classes = {**LAYER_CLASSES, **_model_classes(), **(custom_objects or {})}
    cls = classes.get(spec["class_name"])
    if cls is None:
        raise _UnknownClass(spec["class_name"])
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"{spec['class_name']!r} is not a layer class")
    if issubclass(cls, Model):
        model = cls.from_config(spec["config"], custom_objects=custom_objects)
        shape = spec.get("build_input_shape")
        if shape is not None and not model.built:
            model.build(_as_shape(shape))
        return model
    return cls.from_config(spec["config"])


def _model_classes() -> dict:
    from .functional import Functional
    from .sequential import Sequential
    return {"Sequential": Sequential, "Functional": Functional}


def _as_shape(shape):
    """JSON lists back to shape tuples (a list of shapes stays a list)."""
    if isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):
        return [tuple(s) for s in shape]
    return tuple(shape)


# ------------------------------------------------------------------ save
def save_model(model, filepath, epoch: int | None = None) -> None:
    """Write config, weights and optimizer state to one .npz file, atomically: a
    temporary file beside it, then a rename, so a failed save leaves any previous
    file intact (and a stale temporary file of a killed save is removed here)."""
    model._require_built("save")
    ext = os.path.splitext(os.fspath(filepath))[1].lower()
    if ext in (".keras", ".h5", ".hdf5"):
        raise ValueError(f"save: minigrad writes its own .npz format; {ext} files are not "
                         f"supported yet (give a path ending in .npz)")
    from .sequential import Sequential
    entry = serialize_model(model)
    sequential = isinstance(model, Sequential)
    # everything the rest of a run depends on: minigrad's generator and the
    # private generators of layers seeded on their own (Dropout(seed=...))
    meta = {"format": FORMAT, "version": 1 if sequential else 2,
            "model": entry["config"] if sequential else entry, "epoch": epoch,
            **model._random_states()}
    arrays = {f"weight_{i:04d}": w for i, w in enumerate(model.get_weights())}
    if model.optimizer is not None:
        iterations, slots = model.optimizer.get_state()
        meta["compile"] = {
            "optimizer": {"class_name": type(model.optimizer).__name__,
                          "config": model.optimizer.get_config(), "iterations": iterations},
            "loss": {"class_name": type(model.loss).__name__,
                     "config": model.loss.get_config()} if model.loss else None,
            "metrics": [m if isinstance(m, str) else m.name for m in model._metric_ids]}
        arrays.update({f"optimizer_{i:04d}": s for i, s in enumerate(slots)})
    arrays["config"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path = os.path.abspath(os.fspath(filepath))
    folder, base = os.path.split(path)
    _remove_stale_temporaries(folder, base)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    # created like any file (mode 0666 less the umask, as np.savez), never replacing one
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one
        _fsync_dir(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove_stale_temporaries(folder: str, base: str) -> None:
    """Delete `.<base>.<pid>-<hex>.tmp` files whose writing process is gone (a save
    killed half-way); another live process's save in progress is left alone."""
    prefix = f".{base}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):-len(".tmp")].split("-")[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process: perhaps another thread's save
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _fsync_dir(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------ load
def load_model(filepath, custom_objects: dict | None = None, compile: bool = True):
    """Rebuild a model written by `model.save` (config, weights, optimizer state).

    Every array and config entry is checked against the rebuilt model before it is
    used; a file that does not fit is a ValueError naming it (and changes nothing:
    minigrad's random state is restored only once everything checked out)."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"load_model: `filepath` must be a str or os.PathLike, got "
                        f"{type(filepath).__name__}")
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no such file: {path!r}")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: `custom_objects` must be a dict, got "
                        f"{type(custom_objects).__name__}")
    rng_state = random.get_state()  # building layers draws initial weights from it
    try:
        meta, arrays = _read(path)
        model = _rebuild(meta, custom_objects)
        weights = [arrays[k] for k in sorted(arrays) if k.startswith("weight_")]
        model.set_weights(weights)
        states = _check_random_states(meta, model)
        spec = meta.get("compile")
        if compile and spec is not None:
            _compile_from(model, spec, [arrays[k] for k in sorted(arrays)
                                        if k.startswith("optimizer_")])
    except _UnknownClass as e:
        random.set_state(rng_state)
        raise ValueError(f"load_model: {path!r} uses the unknown layer class {e.args[0]!r}; "
                         f"pass it in custom_objects={{{e.args[0]!r}: TheClass}}") from None
    except Exception as e:  # noqa: BLE001 - any defect of the file is a ValueError naming it
        random.set_state(rng_state)
        raise ValueError(f"load_model: {path!r} is not a readable minigrad model file "
                         f"({type(e).__name__}: {e})") from None
    model._set_random_states(states)
    return model


def _read(path: str) -> tuple:
    """(config, arrays): every array is read (and its zip CRC checked) here."""
    with np.load(path, allow_pickle=False) as data:
        if "config" not in data.files:
            raise ValueError("no 'config' entry")
        meta = json.loads(bytes(data["config"]).decode())
        arrays = {k: data[k] for k in data.files if k != "config"}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format') if isinstance(meta, dict) else meta!r}, "
                         f"expected {FORMAT!r}")
    if meta.get("version") not in (1, 2):
        raise ValueError(f"version {meta.get('version')!r}, expected 1 or 2")
    for key, arr in arrays.items():
        if not (key.startswith("weight_") or key.startswith("optimizer_")):
            raise ValueError(f"unexpected entry {key!r}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"array {key!r} has dtype {arr.dtype}, expected numbers")
    return meta, arrays


def _rebuild(meta: dict, custom_objects):
    from .sequential import Sequential
    spec = meta.get("model")
    if not isinstance(spec, dict):
        raise ValueError(f"'model' must be a dict, got {type(spec).__name__}")
    if meta["version"] == 1:
        for key, kind in (("layers", list), ("input_shape", (list, type(None)))):
            if not isinstance(spec.get(key, "missing"), kind):
                raise ValueError(f"'model' needs {key!r} as {kind}, got {spec.get(key)!r:.80}")
        return Sequential.from_config(spec, custom_objects=custom_objects)
    model = deserialize_layer(spec, custom_objects)
    from .model import Model
    if not isinstance(model, Model):
        raise ValueError(f"'model' describes a {type(model).__name__}, not a model")
    model._require_built("load_model")
    return model


def _check_random_states(meta: dict, model) -> dict:
    states = {"random_state": meta.get("random_state"),
              "layer_random_states": meta.get("layer_random_states") or {}}
    state = states["random_state"]
    if state is not None:
        expected = type(random.generator().bit_generator).__name__
        if not isinstance(state, dict) or state.get("bit_generator") != expected:
            raise ValueError(f"random_state is not a {expected} state")
        np.random.default_rng().bit_generator.state = state  # raises if malformed
    if not isinstance(states["layer_random_states"], dict):
        raise ValueError("layer_random_states must be a dict")
    layers = model._layers_by_path()
    for name, layer_state in states["layer_random_states"].items():
        rng = getattr(layers.get(name), "_rng", None)
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"layer_random_states names {name!r}, which is not a layer with "
                             f"its own generator")
        type(rng.bit_generator)().state = layer_state  # raises if malformed
    return states


def _registry(module, base: type) -> dict:
    return {name: obj for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, base) and obj is not base}


def _compile_from(model, spec: dict, slots: list) -> None:
    """Re-compile as saved, after checking the optimizer state fits the model."""
    opt, loss = spec["optimizer"], spec["loss"]
    optimizers = _registry(optimizers_mod, optimizers_mod.Optimizer)
    if opt["class_name"] not in optimizers or not isinstance(opt["config"], dict):
        raise ValueError(f"unknown optimizer {opt['class_name']!r}; expected one of "
                         f"{sorted(optimizers)}")
    optimizer = optimizers[opt["class_name"]](**opt["config"])
    if loss is not None:
        loss_classes = _registry(losses_mod, losses_mod.Loss)
        if loss["class_name"] not in loss_classes or not isinstance(loss["config"], dict):
            raise ValueError(f"unknown loss {loss['class_name']!r}; expected one of "
                             f"{sorted(loss_classes)}")
        loss = loss_classes[loss["class_name"]](**loss["config"])
    metrics = spec["metrics"]
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"'metrics' must be a list of names, got {metrics!r:.80}")
    iterations = opt["iterations"]
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"optimizer iterations must be an int >= 0, got {iterations!r}")
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    weights = model._train_weights()
    per_weight = len(optimizer.slot_names)
    if slots:
        if len(slots) != per_weight * len(weights):
            raise ValueError(f"{len(slots)} optimizer arrays for {len(weights)} trainable "
                             f"weights; {type(optimizer).__name__} keeps {per_weight} per "
                             f"weight ({per_weight * len(weights)} in all)")
        for i, slot in enumerate(slots):
            w = weights[i // per_weight]
            if slot.shape != w.shape or not np.issubdtype(slot.dtype, np.floating):
                raise ValueError(f"optimizer array {i} ({optimizer.slot_names[i % per_weight]} "
                                 f"of {w.name!r}) has shape {slot.shape} and dtype "
                                 f"{slot.dtype}; expected {w.shape}, floating point")
    optimizer.set_state(iterations, slots, weights)

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

import numpy as np

from .. import optimizers as optimizers_mod
from .compile_utils import deserialize_loss, serialize_loss
from .. import random
from ..saving.file_utils import atomic_write
from ..saving.object_registration import CustomObjectScope
from ..saving.serialization_lib import (UnknownObjectError, as_shape,
                                        deserialize_keras_object, serialize_keras_object)

FORMAT = "minigrad.Sequential"   # the format's name since version 1 (it holds any model)


# ------------------------------------------------------------- structure
def serialize_model(model) -> dict:
    """A model in Keras 3's schema; a subclassed model must be rebuildable from
    its config (checked here, so that a save never writes what cannot load)."""
    entry = serialize_keras_object(model)
    from .functional import Functional
    from .model import Model
    from .sequential import Sequential
    if not isinstance(model, (Functional, Sequential)):
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


# ------------------------------------------------------------------ save
def save_model(model, filepath, epoch: int | None = None) -> None:
    """Write config, weights and optimizer state to one .npz file, atomically: a
    temporary file beside it, then a rename, so a failed save leaves any previous
    file intact (and a stale temporary file of a killed save is removed here)."""
    model._require_built("save")
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
            "loss": serialize_loss(model._compile_loss.spec if model._compile_loss is not None
                                   and model._compile_loss.single is None else model.loss),
            "loss_weights": None if model._compile_loss is None else
            model._compile_loss.weights_spec,
            "metrics": [m if isinstance(m, str) else m.name for m in model._metric_ids]}
        arrays.update({f"optimizer_{i:04d}": s for i, s in enumerate(slots)})
    arrays["config"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    atomic_write(filepath, lambda f: np.savez(f, **arrays))


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
    except UnknownObjectError as e:
        random.set_state(rng_state)
        raise ValueError(f"load_model: {path!r} uses the unknown class or function "
                         f"{e.name!r}; pass it in custom_objects={{{e.name!r}: ...}}") from None
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
        if not isinstance(spec.get("layers"), list):
            raise ValueError(f"'model' needs 'layers' as a list, got {spec.get('layers')!r:.80}")
        if not isinstance(spec.get("input_shape"), (list, type(None))):
            raise ValueError(f"'model' needs 'input_shape' as a list, got "
                             f"{spec.get('input_shape')!r:.80}")
        with CustomObjectScope(custom_objects):
            return Sequential.from_config(spec, custom_objects=custom_objects)
    if not isinstance(spec.get("class_name"), str) or not isinstance(spec.get("config"), dict):
        raise ValueError(f"a model entry must be {{'class_name': str, 'config': dict}}, got "
                         f"{spec!r:.120}")
    model = deserialize_keras_object(spec, custom_objects)
    from .model import Model
    if not isinstance(model, Model):
        raise ValueError(f"'model' describes a {type(model).__name__}, not a model")
    shape = spec.get("build_input_shape")  # files written before build_config
    if shape is not None and not model.built:
        model.build(as_shape(shape))
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
    loss = deserialize_loss(loss)
    metrics = spec["metrics"]
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"'metrics' must be a list of names, got {metrics!r:.80}")
    iterations = opt["iterations"]
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"optimizer iterations must be an int >= 0, got {iterations!r}")
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                  loss_weights=spec.get("loss_weights"))
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

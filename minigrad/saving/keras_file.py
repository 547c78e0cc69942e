"""The `.keras` format, both ways: a zip holding `metadata.json`, `config.json`
(the model in Keras 3's serialisation schema, with its compile settings) and
`model.weights.h5` (Keras's weights layout, the optimizer's state included).

Written atomically like every minigrad save. A load reads and checks the whole
file (the zip, the config, every dataset against the rebuilt model) before it
returns; any defect is a ValueError naming the file, and minigrad's random
state is left as it was.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import zipfile

from .. import random
from ..models.saving import _check_random_states, serialize_model
from . import weights_store
from .file_utils import atomic_write
from .serialization_lib import UnknownObjectError, deserialize_keras_object, \
    serialize_keras_object

FORMAT_VERSION = 1          # minigrad's own counter inside metadata.json
KERAS_MAJOR = 3             # the Keras major version whose layout this follows
_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


# ------------------------------------------------------------------ save
def save_keras(model, filepath, epoch: int | None = None) -> None:
    from .. import __version__
    weights_store.require_h5py()
    model._require_built("save")
    config = serialize_model(model)  # checked: a subclassed model must rebuild
    compiled = model.get_compile_config()
    if compiled is not None:
        config["compile_config"] = compiled
    # the Keras 3 format this follows (Keras does not read it; minigrad checks the major)
    metadata = {"keras_version": "3.0.0", "minigrad_version": __version__,
                "minigrad_format": FORMAT_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                # what a resumed run needs beyond the weights (Keras ignores the key)
                "minigrad_state": {"epoch": epoch, **model._random_states()}}
    payload = (json.dumps(metadata), json.dumps(config), weights_store.h5_bytes(model))

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr(_METADATA, payload[0])
            zf.writestr(_CONFIG, payload[1])
            zf.writestr(_WEIGHTS, payload[2])
    atomic_write(filepath, write)


def compile_config(model) -> dict:
    """Keras 3's compile_config: what `compile` was given, serialized."""
    from ..models.compile_utils import serialize_loss
    # what compile was given (a name stays a name), as Keras keeps it
    loss = serialize_loss(None if model._compile_loss is None else model._compile_loss.spec)
    if isinstance(loss, dict) and "per_output" in loss:
        loss = loss["per_output"]
    return {"optimizer": serialize_keras_object(model.optimizer), "loss": loss,
            "loss_weights": None if model._compile_loss is None else
            model._compile_loss.weights_spec,
            "metrics": serialize_keras_object(model._compile_metrics.spec),
            "weighted_metrics": serialize_keras_object(model._compile_metrics.weighted_spec),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


# ------------------------------------------------------------------ load
def load_keras(filepath, custom_objects: dict | None = None, compile: bool = True):
    path = os.fspath(filepath)
    rng_state = random.get_state()  # building layers draws initial weights from it
    try:
        metadata, config, arrays = _read(path)
        _check_version(metadata)
        if not compile:  # as Keras: the compile settings are left out
            config = {**config, "compile_config": None}
        model = deserialize_keras_object(config, custom_objects)
        from ..models.model import Model
        if not isinstance(model, Model):
            raise ValueError(f"config.json describes a {type(model).__name__}, not a model")
        model._require_built("load_model")
        states = _check_random_states(metadata.get("minigrad_state") or {}, model)
        optimizer_values = weights_store.assign(model, arrays, repr(path))
        if compile and model.optimizer is not None:
            weights_store.restore_optimizer(model, optimizer_values, repr(path))
    except UnknownObjectError as e:
        random.set_state(rng_state)
        raise ValueError(f"load_model: {path!r} uses the unknown class or function "
                         f"{e.name!r}; pass it in custom_objects={{{e.name!r}: ...}} or "
                         f"register it with mg.saving.register_keras_serializable") from None
    except ImportError:
        random.set_state(rng_state)
        raise
    except Exception as e:  # noqa: BLE001 - any defect of the file is a ValueError naming it
        random.set_state(rng_state)
        raise ValueError(f"load_model: {path!r} is not a readable .keras model file "
                         f"({type(e).__name__}: {e})") from None
    random.set_state(rng_state)  # as found, or as saved by minigrad (for a resume)
    model._set_random_states(states)
    return model


def _read(path: str) -> tuple:
    """(metadata, config, {dataset path: array}) of a .keras archive."""
    if os.path.isdir(path):
        raise ValueError("a folder, not a .keras file")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        missing = [n for n in (_CONFIG, _WEIGHTS) if n not in names]
        if missing:
            raise ValueError(f"the archive lacks {missing} (has {sorted(names)[:10]})")
        metadata = json.loads(_member(zf, _METADATA)) if _METADATA in names else {}
        config = json.loads(_member(zf, _CONFIG))
        arrays = weights_store.read_h5(io.BytesIO(_member(zf, _WEIGHTS)))
    if not isinstance(config, dict):
        raise ValueError(f"config.json holds a {type(config).__name__}, not a dict")
    return metadata, config, arrays


# as Keras's guard against decompression bombs (CWE-409): a member that would
# inflate past 4 GiB and 100x its stored size is refused before it is read
_BOMB_FLOOR, _BOMB_EXPANSION = 1 << 32, 100


def _member(zf: zipfile.ZipFile, name: str) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > _BOMB_FLOOR and info.file_size > _BOMB_EXPANSION * info.compress_size:
        raise ValueError(f"the member {name!r} declares {info.file_size:,} bytes but stores "
                         f"{info.compress_size:,}: refusing a potential decompression bomb")
    return zf.read(name)


def _check_version(metadata: dict) -> None:
    if not isinstance(metadata, dict):
        raise ValueError("metadata.json is not a dict")
    fmt = metadata.get("minigrad_format", FORMAT_VERSION)
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
        raise ValueError(f"written by a newer minigrad (format {fmt!r}); this version reads "
                         f"format {FORMAT_VERSION} and older: upgrade minigrad")
    version = str(metadata.get("keras_version", f"{KERAS_MAJOR}"))
    major = version.split(".")[0]
    if not major.isdigit() or int(major) > KERAS_MAJOR:
        raise ValueError(f"written by Keras {version}, a newer format than the Keras "
                         f"{KERAS_MAJOR} format this version reads")


def compile_from_config(model, config: dict, custom_objects: dict | None = None) -> None:
    """Keras 3's compile_from_config: compile as the file says."""
    from .. import losses, metrics
    from .object_registration import CustomObjectScope
    with CustomObjectScope(custom_objects):
        optimizer = deserialize_keras_object(config.get("optimizer"), custom_objects)
        loss = _deserialize_tree(config.get("loss"), losses.deserialize, custom_objects)
        found = config.get("metrics")
        metric_list = None if found is None else \
            _deserialize_tree(found, metrics.deserialize, custom_objects)
        weighted = config.get("weighted_metrics")
        model.compile(optimizer=optimizer if optimizer is not None else "rmsprop", loss=loss,
                      loss_weights=config.get("loss_weights"), metrics=metric_list,
                      weighted_metrics=None if weighted is None else
                      _deserialize_tree(weighted, metrics.deserialize, custom_objects))


def _deserialize_tree(spec, deserialize, custom_objects):
    """Names stay names (compile resolves them); config dicts become objects."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return [_deserialize_tree(s, deserialize, custom_objects) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _deserialize_tree(v, deserialize, custom_objects) for k, v in spec.items()}
    return deserialize(spec, custom_objects)

"""Weights in Keras 3's layout: every variable at a path such as
`layers/dense/vars/0`, written to a `.weights.h5` file (h5py), to minigrad's
`.npz` weights, or inside a `.keras` archive.

The paths follow Keras's `saving_lib._save_state`: a Sequential's or functional
model's layers under `layers/<snake_case class name>[_<n>]` (numbered per class
in model order), a layer's own variables (created trainable first) under
`vars/<i>`, the optimizer's under `optimizer/vars` (iterations, the learning
rate, then its slots weight by weight). A load reads and checks every array
against the model before any is assigned: a file that does not fit changes
nothing.
"""
from __future__ import annotations

import io
import warnings

import numpy as np

from ..backends import get_backend
from ..utils.naming import to_snake_case


_BOMB_FLOOR = 1 << 32  # as Keras: past 4 GiB and 100x its stored size, a dataset is refused


def require_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Reading or writing .keras and .weights.h5 files needs h5py: "
                          "pip install 'minigrad[keras]' (or pip install h5py)") from None
    return h5py


# ---------------------------------------------------------------- the layout
def own_variables(layer) -> list:
    """A layer's own variables in Keras's order: created trainable first."""
    return [w for w in layer._weights if w._created_trainable] + \
        [w for w in layer._weights if not w._created_trainable]


def layout(model) -> list:
    """[(path, layer, variables)] for every layer of `model` holding variables, as
    Keras walks it (a layer reached twice is stored once, where first met)."""
    out, visited = [], set()
    _walk(model, "", out, visited)
    return out


def _walk(layer, path: str, out: list, visited: set) -> None:
    if id(layer) in visited:
        return
    visited.add(id(layer))
    groups = layer._keras_variable_groups() if hasattr(layer, "_keras_variable_groups") \
        else [("", own_variables(layer))]
    for sub, variables in groups:
        if variables:
            out.append((_join(path, sub), layer, variables))
    for attr, child in _children(layer):
        if isinstance(child, (list, tuple)):
            used: dict = {}
            for item in child:
                name = to_snake_case(type(item).__name__)
                used[name] = used.get(name, -1) + 1
                unique = name if used[name] == 0 else f"{name}_{used[name]}"
                _walk(item, _join(_join(path, attr), unique), out, visited)
        else:
            _walk(child, _join(path, attr), out, visited)


def _children(layer) -> list:
    """(attribute, layer or list of layers) in Keras's visiting order: a graph
    model's `layers` only; another layer's tracked attributes sorted by name
    (private ones last), a model's `layers` list among them."""
    from ..layers.base import Layer
    from ..models.functional import Functional
    from ..models.model import Model
    from ..models.sequential import Sequential
    if isinstance(layer, (Sequential, Functional)):
        return [("layers", layer.layers)]
    found = {}
    for key, value in layer.__dict__.items():
        if key in layer._UNTRACKED or key.startswith("__"):
            continue
        if isinstance(value, Layer):
            found[key] = value
        elif isinstance(value, (list, tuple)) and value and \
                all(isinstance(v, Layer) for v in value):
            found[key] = list(value)
    if isinstance(layer, Model):
        found["layers"] = layer.layers
    return sorted(found.items(), key=lambda kv: f"~{kv[0]}" if kv[0].startswith("_")
                  else kv[0])


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a and b else a or b


# ------------------------------------------------------------------- writing
def weights_dict(model, include_optimizer: bool = True) -> dict:
    """{'<path>/vars/<i>': array} of the model (and its optimizer, once it has state)."""
    arrays = {}
    for path, _, variables in layout(model):
        for i, w in enumerate(variables):
            arrays[f"{_join(path, 'vars')}/{i}"] = w.numpy()
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        for i, a in enumerate(optimizer_variables(optimizer, model._train_weights())):
            arrays[f"optimizer/vars/{i}"] = a
    return arrays


def optimizer_variables(optimizer, weights: list = ()) -> list:
    """Keras's optimizer.variables: iterations, the learning rate (unless a
    schedule sets it), the slots in Keras's order, then any extra variable."""
    from ..optimizers import schedules
    iterations, slots = optimizer.get_state()
    if not slots and weights:  # no step yet: the slots a fresh build would hold
        slots = [np.full(w.shape, optimizer._slot_init(n), w.dtype)
                 for w in weights for n in optimizer.slot_names]
    lr = optimizer._learning_rate
    rate = [] if isinstance(lr, schedules.LearningRateSchedule) or callable(lr) else \
        [np.asarray(lr, np.float32)]
    order = keras_slot_order(optimizer, len(weights))
    return [np.asarray(iterations, np.int64)] + rate + [slots[k] for k in order] + \
        optimizer._keras_extra_variables()


def keras_slot_order(optimizer, n_weights: int) -> list:
    """Indices into minigrad's slot list (weight by weight, slot_names side by side)
    in the order Keras 3 lists the optimizer's variables."""
    names, per = list(optimizer.slot_names), len(optimizer.slot_names)
    return [w * per + names.index(name) for group in optimizer._keras_slot_groups()
            for w in range(n_weights) for name in group]


def write_h5(fileobj, arrays: dict, names: dict) -> None:
    """Write `arrays` ({path: array}) as Keras's H5IOStore does: each `vars` group
    carries its owner's name as an attribute (`names`: {group path: name})."""
    h5py = require_h5py()
    with h5py.File(fileobj, "w") as f:
        for group, name in names.items():
            f.require_group(group).attrs["name"] = name
        for key, value in arrays.items():
            f[key] = value


def group_names(model) -> dict:
    """{'<path>/vars': owner's name} for the model, its layers and its optimizer."""
    names = {"vars": model.name}
    for path, layer, _ in layout(model):
        names[_join(path, "vars")] = layer.name
    if getattr(model, "optimizer", None) is not None:
        names["optimizer/vars"] = getattr(model.optimizer, "name", None) or \
            to_snake_case(type(model.optimizer).__name__)
    return names


def h5_bytes(model) -> bytes:
    buffer = io.BytesIO()
    write_h5(buffer, weights_dict(model), group_names(model))
    return buffer.getvalue()


# ------------------------------------------------------------------- reading
def read_h5(fileobj) -> dict:
    """{'<path>/vars/<i>': array} of every dataset in an h5 weights file."""
    h5py = require_h5py()
    arrays = {}
    with h5py.File(fileobj, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                declared = int(np.prod(obj.shape, dtype=np.int64)) * obj.dtype.itemsize
                if declared > _BOMB_FLOOR and declared > 100 * obj.id.get_storage_size():
                    raise ValueError(f"the dataset {name!r} declares {declared:,} bytes but "
                                     f"stores {obj.id.get_storage_size():,}: refusing a "
                                     f"potential decompression bomb")
                arrays[name] = obj[()]
        f.visititems(visit)
    return arrays


def assign(model, arrays: dict, source: str, skip_mismatch: bool = False) -> list:
    """Check `arrays` against the model's layout, then copy them in (all or none).
    Returns the optimizer's arrays found ([] if none)."""
    groups: dict = {}  # '<path>/vars' -> its dataset keys
    for key in arrays:
        groups.setdefault(key.rsplit("/", 1)[0], []).append(key)
    plan = []
    for path, layer, variables in layout(model):
        try:
            plan.extend(_checked(arrays, groups, path, layer, variables, source))
        except ValueError:
            if not skip_mismatch:
                raise
    for w, value in plan:  # a copy: training must never write into the file's arrays
        w.data = get_backend(w.device).asarray(np.array(value, dtype=w.dtype, order="C"))
    keys = [k for k in arrays if k.startswith("optimizer/vars/")]
    return [arrays[f"optimizer/vars/{i}"] for i in range(len(keys))
            if f"optimizer/vars/{i}" in arrays]


def _checked(arrays: dict, groups: dict, path: str, layer, variables: list,
             source: str) -> list:
    """[(variable, array)] of one layer, each array checked (count, shape, dtype)."""
    vars_path = _join(path, "vars")
    found = groups.get(vars_path, [])
    what = f"layer {layer.name!r} ({type(layer).__name__}, at {vars_path!r})"
    if len(found) != len(variables):
        raise ValueError(f"{source}: {what} expects {len(variables)} variables "
                         f"{[tuple(v.shape) for v in variables]}, the file has {len(found)}")
    out = []
    for i, w in enumerate(variables):
        key = f"{vars_path}/{i}"
        if key not in arrays:
            raise ValueError(f"{source}: {what} lacks the dataset {key!r}")
        value = np.asarray(arrays[key])
        if value.dtype.kind not in "fiub":
            raise ValueError(f"{source}: {key!r} holds {value.dtype}, not numbers")
        if tuple(value.shape) != tuple(w.shape):
            raise ValueError(f"{source}: {what} variable {i} ({w.name!r}) has shape "
                             f"{tuple(value.shape)} in the file, the model expects "
                             f"{tuple(w.shape)}")
        out.append((w, value))
    return out


def restore_optimizer(model, values: list, source: str) -> bool:
    """Set a built or buildable optimizer's iterations and slots from Keras's
    optimizer variables; False (nothing changed) when they do not fit its layout."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not values:
        return False
    weights = model._train_weights()
    per = len(optimizer.slot_names)
    order = keras_slot_order(optimizer, len(weights))
    n_extra = len(optimizer._keras_extra_variables())
    for skip in (1, 0):  # with the learning-rate variable, or without (a schedule)
        found = values[1 + skip:len(values) - n_extra]
        if len(found) == len(order) and all(
                tuple(np.shape(v)) == tuple(weights[k // per].shape)
                for k, v in zip(order, found)):
            slots = [np.full(weights[k // per].shape,
                             optimizer._slot_init(optimizer.slot_names[k % per]),
                             weights[k // per].dtype) for k in range(per * len(weights))]
            for k, v in zip(order, found):  # a slot Keras does not keep stays initial
                slots[k] = np.asarray(v)
            optimizer.set_state(int(np.asarray(values[0])), slots, weights)
            return True
    # as Keras does when an optimizer's variables do not fit: say so, keep a fresh state
    warnings.warn(f"{source}: skipping the optimizer state: {type(optimizer).__name__} keeps "
                  f"{per} slot(s) for each of {len(weights)} trainable weights, the file holds "
                  f"{len(values)} optimizer variables", stacklevel=3)
    return False

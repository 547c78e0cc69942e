"""Keras 3's serialisation schema: objects to and from
`{"module", "class_name", "config", "registered_name"}` dicts.

minigrad's built-in layers, initializers, regularizers, optimizers, losses and
metrics are written under Keras's public modules ("keras.layers", ...), so a
Keras 3 installation reads them as its own; a config written by Keras is read
back into minigrad's classes. Keys a Keras config carries for features
minigrad lacks are dropped when they hold the feature's "off" value (None,
False, 'channels_last', ...) and refused otherwise, by name.
"""
from __future__ import annotations

import inspect
import types

import numpy as np

from .object_registration import (CustomObjectScope, get_registered_name,
                                  get_registered_object)

PLAIN_TYPES = (str, int, float, bool)

# Keras config keys whose value turns a feature off; a minigrad class that does not
# take such a key loses nothing by dropping it (any other value is refused)
_NEUTRAL = {"data_format": "channels_last", "autocast": True, "renorm_momentum": 0.99,
            "ema_momentum": 0.99, "momentum_dtype": None}


class UnknownObjectError(ValueError, TypeError):
    """A config names a class or function neither minigrad nor the custom objects
    know (a ValueError, and a TypeError as Keras raises there); `.name` is it."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def _families() -> list:
    """(base class, Keras module, {name: object}) of each kind of built-in object."""
    from .. import initializers, layers, losses, metrics, optimizers, regularizers
    from ..layers.base import Layer
    from ..models.functional import Functional
    from ..models.model import Model
    from ..models.sequential import Sequential
    from ..optimizers import schedules
    models = {"Sequential": Sequential, "Functional": Functional, "Model": Model}
    return [(Model, "keras", models),
            # minigrad.layers' names (Keras's aliases too), not every Layer subclass
            (Layer, "keras.layers", {name: obj for name, obj in vars(layers).items()
                                     if inspect.isclass(obj) and issubclass(obj, Layer)}),
            (initializers.Initializer, "keras.initializers", initializers.ALL_OBJECTS_DICT),
            (regularizers.Regularizer, "keras.regularizers", regularizers.ALL_OBJECTS_DICT),
            (schedules.LearningRateSchedule, "keras.optimizers.schedules",
             schedules.ALL_OBJECTS_DICT),
            (optimizers.Optimizer, "keras.optimizers", optimizers.ALL_OBJECTS_DICT),
            (losses.Loss, "keras.losses", losses.ALL_OBJECTS_DICT),
            (metrics.Metric, "keras.metrics", metrics.ALL_OBJECTS_DICT)]


def _function_families() -> list:
    from .. import activations, losses, metrics
    return [("keras.activations", activations.ACTIVATIONS),
            ("keras.losses", losses.ALL_OBJECTS_DICT), ("keras.metrics", metrics.ALL_OBJECTS_DICT)]


def _builtin(obj) -> bool:
    return getattr(obj, "__module__", "").split(".")[0] == "minigrad"


# ------------------------------------------------------------------ serialize
def serialize_keras_object(obj, include_compile: bool = False):
    """A JSON-ready description of `obj` in Keras 3's schema (lists, dicts and
    plain values are kept; NumPy arrays become `__numpy__` entries).
    `include_compile`: a compiled model's compile_config too (for `.keras` files
    and `to_json`; minigrad's `.npz` keeps its own)."""
    from ..layers.node import KerasTensor
    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, np.ndarray) and obj.ndim:
        return {"class_name": "__numpy__",
                "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.item()
    if isinstance(obj, KerasTensor):
        history = obj._keras_history
        return {"class_name": "__keras_tensor__",
                "config": {"shape": obj.shape, "dtype": obj.dtype,
                           "keras_history": None if history is None else
                           [history.layer.name, history.node_index, history.tensor_index]}}
    if isinstance(obj, types.FunctionType):
        return _serialize_function(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize object {obj!r} of type {type(obj).__name__}: to be "
                        f"serializable, a class must implement get_config()")
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The get_config() method of {obj!r} should return a dict. It "
                        f"returned: {config!r}")
    entry = {**_class_entry(type(obj)), "config": serialize_keras_object(config)}
    _add_build_config(obj, entry)
    compiled = obj.get_compile_config() if include_compile and \
        hasattr(obj, "get_compile_config") else None
    if compiled is not None:
        entry["compile_config"] = compiled
    return {k: entry[k] for k in ("module", "class_name", "config", "registered_name",
                                  "build_config", "compile_config") if k in entry}


def _class_entry(cls: type) -> dict:
    """module / class_name / registered_name of a class, as Keras writes them."""
    if _builtin(cls):
        for base, module, objects in _families():
            if issubclass(cls, base) and objects.get(cls.__name__) is cls:
                if cls.__name__ == "Functional":  # Keras's own spelling of it
                    return {"module": "keras.src.models.functional",
                            "class_name": "Functional", "registered_name": "Functional"}
                return {"module": module, "class_name": cls.__name__, "registered_name": None}
    return {"module": cls.__module__, "class_name": cls.__name__,
            "registered_name": get_registered_name(cls)}


def _serialize_function(fn) -> dict | str:
    if fn.__name__ == "<lambda>":
        raise ValueError("Cannot serialize a lambda: minigrad never runs code stored in a "
                         "file. Use a named function (and pass it in custom_objects= when "
                         "loading, or register it with register_keras_serializable)")
    if _builtin(fn):
        for module, objects in _function_families():
            if objects.get(fn.__name__) is fn:
                return {"module": module, "class_name": "function", "config": fn.__name__,
                        "registered_name": fn.__name__}
    name = get_registered_name(fn)
    return {"module": fn.__module__, "class_name": "function", "config": name,
            "registered_name": name}


def _add_build_config(obj, entry: dict) -> None:
    from ..layers.input_layer import InputLayer
    from ..models.functional import Functional
    if isinstance(obj, InputLayer) or not hasattr(obj, "get_build_config"):
        return
    if isinstance(obj, Functional):  # built by its graph, as Keras writes it
        entry["build_config"] = {"input_shape": None}
        return
    config = obj.get_build_config()
    if config is not None:
        entry["build_config"] = _jsonable_shape(config)


def _jsonable_shape(shape):
    if isinstance(shape, dict):
        return {k: _jsonable_shape(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return [_jsonable_shape(s) if isinstance(s, (list, tuple, dict)) else
                (None if s is None else int(s)) for s in shape]
    return shape


# ---------------------------------------------------------------- deserialize
def deserialize_keras_object(config, custom_objects: dict | None = None,
                             safe_mode: bool = True, **kwargs):
    """The object a `serialize_keras_object` entry (or a name) describes.
    `custom_objects` ({name: class or function}), the active custom_object_scope and
    the registered objects are searched before minigrad's built-ins."""
    module_objects = kwargs.pop("module_objects", None)
    if kwargs:
        raise TypeError(f"deserialize_keras_object: unexpected arguments {sorted(kwargs)}")
    custom_objects = dict(custom_objects or {})
    if config is None or isinstance(config, PLAIN_TYPES):
        if isinstance(config, str):
            found = get_registered_object(config, custom_objects, module_objects)
            if found is not None:
                return found
        return config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode,
                                         module_objects=module_objects) for x in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode,
                                            module_objects=module_objects)
                for k, v in config.items()}
    class_name, inner = config["class_name"], config["config"]
    inner = {} if inner is None else inner
    special = _special(class_name, inner, safe_mode)
    if special is not _NOT_SPECIAL:
        return special
    module = config.get("module")
    if class_name == "function":
        if not isinstance(inner, str):
            raise TypeError(f"Expected 'config' to be a function name (str), got "
                            f"{inner!r} in {config!r:.200}")
        return _retrieve(inner, config.get("registered_name"), module, "function",
                         custom_objects, module_objects)
    if class_name in ("DTypePolicy", "FloatDTypePolicy"):
        return dtype_name(config)
    if not isinstance(inner, dict):
        raise TypeError(f"Expected 'config' to be a dict for {class_name}, got {inner!r:.120}")
    cls = _retrieve(class_name, config.get("registered_name", class_name), module, "class",
                    custom_objects, module_objects)
    if isinstance(cls, types.FunctionType):
        return cls
    if not hasattr(cls, "from_config"):
        raise TypeError(f"Unable to reconstruct an instance of {class_name!r}: the class has "
                        f"no from_config() method")
    return _instantiate(cls, inner, config.get("build_config"), custom_objects,
                        config.get("compile_config"))


_NOT_SPECIAL = object()


def _special(class_name: str, inner, safe_mode: bool):
    if class_name == "__numpy__":
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(inner["start"], inner["stop"], inner["step"])
    if class_name == "__lambda__":
        raise ValueError("The config holds a Python lambda (stored code); minigrad never "
                         "runs code from a file. Rewrite it as a named function and pass "
                         "it in custom_objects=")
    if class_name == "__keras_tensor__":
        raise ValueError("a symbolic tensor (__keras_tensor__) can only appear in a "
                         "functional model's config")
    return _NOT_SPECIAL


def dtype_name(config) -> str:
    """A Keras DTypePolicy entry (or a dtype string) as a dtype name; mixed
    precision policies are refused, minigrad has none."""
    if isinstance(config, str) or config is None:
        return config
    name = (config.get("config") or {}).get("name")
    if name not in ("float32", "float64", "float16", "bfloat16", "int32", "int64", "bool"):
        raise ValueError(f"dtype policy {name!r} is not supported (minigrad has no mixed "
                         f"precision); expected a plain dtype such as 'float32'")
    return name


def _retrieve(name: str, registered_name, module, obj_type: str, custom_objects: dict,
              module_objects):
    """A class or function: the custom objects (a class by its registered name, a
    function by its name, as Keras looks them up), then minigrad's built-ins for
    `module`; a class from the user's own module also by its plain name."""
    keras_module = module is None or module == "builtins" or \
        module.split(".")[0] in ("keras", "minigrad")
    keys = [name] if obj_type == "function" else [registered_name] if registered_name else []
    if not keras_module or obj_type == "function":
        keys += [registered_name, name]
    for key in keys:
        found = get_registered_object(key, custom_objects, module_objects) if key else None
        if found is not None:
            return found
    if keras_module:
        if obj_type == "function":
            tables = [objects for _, objects in _function_families()]
        else:
            families = _families()
            picked = [objects for _, mod, objects in families if module and
                      _module_kind(mod) and _module_kind(mod) == _module_kind(module)]
            tables = picked or [objects for _, _, objects in families]
        for objects in ([module_objects] if module_objects else []) + tables:
            obj = objects.get(name)
            if obj is not None and (obj_type == "function") != inspect.isclass(obj):
                return obj
    where = f" (module {module!r})" if module else ""
    raise UnknownObjectError(name,
        f"Could not locate {obj_type} {name!r}{where}: minigrad has no such built-in. "
        f"Pass it as custom_objects={{{name!r}: ...}}, use mg.saving.custom_object_scope, "
        f"or register it with @mg.saving.register_keras_serializable()")


def _module_kind(module: str) -> str | None:
    for kind in ("schedules", "layers", "initializers", "regularizers", "optimizers", "losses",
                 "metrics", "models"):
        if f".{kind}" in module:
            return kind
    return None


def _instantiate(cls, inner: dict, build_config, custom_objects: dict, compile_config=None):
    from ..layers.base import Layer
    from ..models.model import Model
    with CustomObjectScope(custom_objects):
        if isinstance(cls, type) and issubclass(cls, Model) and \
                "custom_objects" in inspect.signature(cls.from_config).parameters:
            instance = cls.from_config(inner, custom_objects=custom_objects)
        else:
            instance = cls.from_config(fit_config(cls, inner) if _builtin(cls) else inner)
        if isinstance(instance, Layer) and not instance.built and build_config:
            instance.build_from_config(build_config)
        if compile_config and hasattr(instance, "compile_from_config"):
            instance.compile_from_config(compile_config)
    return instance


def as_shape(shape):
    """JSON lists back to shape tuples (a list of shapes stays a list)."""
    if isinstance(shape, dict):
        return {k: as_shape(v) for k, v in shape.items()}
    if isinstance(shape, list) and shape and all(isinstance(s, (list, dict)) for s in shape):
        return [as_shape(s) for s in shape]
    return tuple(shape)


# ---------------------------------------------------------------- Keras keys
def accepted_arguments(cls: type) -> set | None:
    """The keyword arguments `cls(...)` takes, following **kwargs up the classes
    (minigrad's Layer ends the chain); None if any takes anything."""
    from ..layers.base import Layer
    names: set = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                          p.KEYWORD_ONLY))
        if klass is Layer or not any(p.kind is p.VAR_KEYWORD for p in params):
            return names - {"self"}
    return None


def fit_config(cls: type, config: dict) -> dict:
    """A Keras config for a minigrad class: the dtype policy as a dtype name; for a
    built-in class, keys it does not take dropped where they hold their "off"
    value, refused (ValueError naming the class and key) otherwise."""
    config = dict(config)
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = dtype_name(config["dtype"])
    if "batch_input_shape" in config and "InputLayer" not in cls.__name__:
        shape = config.pop("batch_input_shape")
        if shape is not None:
            config.setdefault("input_shape", list(shape)[1:])
    accepted = accepted_arguments(cls) if _builtin(cls) else None
    if accepted is None:  # a user's class gets its config as written
        return config
    owner = f"{cls.__name__} {config.get('name')!r}" if config.get("name") else cls.__name__
    for key in [k for k in config if k not in accepted]:
        value = config[key]
        if value is None or value is False or value == {} or value == [] or \
                (key in _NEUTRAL and value == _NEUTRAL[key]):
            del config[key]
        else:
            raise ValueError(f"{owner}: the config sets {key}={value!r}, which minigrad does "
                             f"not support (it accepts {sorted(accepted)})")
    return config

"""Keras 3's registry of custom objects: `register_keras_serializable`, the
`custom_object_scope`, and the name lookups the deserializer uses.

A registered object is known as 'package>name' (Keras's key); a scope adds a
dict of objects for the code run inside it (thread-local, as Keras's global
state); `custom_objects=` arguments are looked up first.
"""
from __future__ import annotations

import inspect
import threading

GLOBAL_CUSTOM_OBJECTS: dict = {}   # 'package>name' -> class or function
GLOBAL_CUSTOM_NAMES: dict = {}     # class or function -> 'package>name'
_scope = threading.local()


class CustomObjectScope:
    """`with custom_object_scope({"MyLayer": MyLayer}):` makes the objects known to
    every deserialization inside the block (`load_model`, `from_config`, ...)."""

    def __init__(self, custom_objects: dict | None):
        if custom_objects is not None and not isinstance(custom_objects, dict):
            raise TypeError(f"custom_object_scope: expected a dict of name -> object, got "
                            f"{type(custom_objects).__name__}")
        self.custom_objects = dict(custom_objects or {})
        self.backup = None

    def __enter__(self) -> "CustomObjectScope":
        self.backup = scope_objects()
        _scope.objects = {**self.backup, **self.custom_objects}
        return self

    def __exit__(self, *args) -> None:
        _scope.objects = self.backup


custom_object_scope = CustomObjectScope


def scope_objects() -> dict:
    """The objects of the innermost active `custom_object_scope` (a copy)."""
    return dict(getattr(_scope, "objects", {}))


def get_custom_objects() -> dict:
    """The live global dict of registered objects (scopes are not in it)."""
    return GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: register a class (which must have get_config) or a function as
    'package>name' (name defaults to its own), so that saved models find it."""
    if not isinstance(package, str) or not package:
        raise TypeError(f"register_keras_serializable: `package` must be a non-empty str, "
                        f"got {package!r}")

    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered_name = f"{package}>{class_name}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() "
                             "method.")
        GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg
    return decorator


def get_registered_name(obj) -> str:
    """'package>name' of a registered object, else its own __name__."""
    try:
        if obj in GLOBAL_CUSTOM_NAMES:
            return GLOBAL_CUSTOM_NAMES[obj]
    except TypeError:  # an unhashable object is never registered
        pass
    return obj.__name__


def get_registered_object(name: str, custom_objects: dict | None = None,
                          module_objects: dict | None = None):
    """The object known by `name`: in the active scope, the global registry,
    `custom_objects`, then `module_objects` (Keras's order); None if none."""
    for table in (scope_objects(), GLOBAL_CUSTOM_OBJECTS, custom_objects or {},
                  module_objects or {}):
        if name in table:
            return table[name]
    return None

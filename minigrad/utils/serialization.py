"""Keras's `get` / `serialize` / `deserialize` for one kind of object (losses, metrics,
regularizers): a name, a {'class_name', 'config'} dict, an object or a callable."""
from __future__ import annotations

import inspect
import types


class Registry:
    """The named objects of one kind; `kind` names them in errors ('loss'),
    `expected` says what else is accepted ('a Loss or a function fn(y_true, y_pred)');
    `functions`, the functions serialized by name (by default those in `objects`)."""

    def __init__(self, kind: str, objects: dict, base: type, expected: str,
                 functions: dict | None = None):
        self.kind, self.objects, self.base, self.expected = kind, objects, base, expected
        self.functions = functions if functions is not None else objects

    def unknown(self, name) -> ValueError:
        return ValueError(f"Could not interpret {self.kind} identifier: {name!r}; expected one "
                          f"of {sorted(self.objects)}, {self.expected}")

    def serialize(self, obj):
        """An instance in Keras 3's schema ({'module', 'class_name', 'config',
        'registered_name'}); a built-in function as its name; a registered or
        custom function as Keras's function entry."""
        from ..saving.serialization_lib import serialize_keras_object
        if isinstance(obj, self.base):
            return serialize_keras_object(obj)
        name = getattr(obj, "__name__", None)
        if name is not None and self.functions.get(name) is obj:
            return name
        if isinstance(obj, types.FunctionType) and name != "<lambda>":
            return serialize_keras_object(obj)
        raise ValueError(f"cannot serialize {obj!r} as a {self.kind}: expected "
                         f"{self.expected} known by name")

    def _named(self, name: str, custom_objects: dict | None = None):
        """A built-in by name, else a custom object (scope, registry, custom_objects)."""
        from ..saving.object_registration import get_registered_object
        obj = self.objects.get(name)
        if obj is None:
            obj = get_registered_object(name, custom_objects)
        if obj is None:
            raise self.unknown(name)
        return obj

    def deserialize(self, config, custom_objects: dict | None = None):
        from ..saving.serialization_lib import deserialize_keras_object
        if isinstance(config, str):
            return (custom_objects or {}).get(config) or self._named(config, custom_objects)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"Could not interpret {self.kind} config: expected a name or a "
                             f"dict with 'class_name' and 'config', got {config!r}")
        if config["class_name"] != "function" and config.get("registered_name") is None and \
                not inspect.isclass(self.objects.get(config["class_name"])) and \
                config["class_name"] not in (custom_objects or {}):
            from ..saving.object_registration import get_registered_object
            if get_registered_object(config["class_name"]) is None:
                raise self.unknown(config["class_name"])
        return deserialize_keras_object({"config": {}, **config}, custom_objects,
                                        module_objects=self.objects)

    def get(self, identifier):
        """None, a name, a config dict, an instance or a callable (classes are made)."""
        if identifier is None:
            return None
        if isinstance(identifier, dict):
            obj = self.deserialize(identifier)
        elif isinstance(identifier, str):
            obj = self._named(identifier)
        else:
            obj = identifier
        if not callable(obj):
            raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}; "
                             f"expected a name, {self.expected}")
        return obj() if inspect.isclass(obj) else obj

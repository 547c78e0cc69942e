"""Keras's `get` / `serialize` / `deserialize` for one kind of object (losses, metrics,
regularizers): a name, a {'class_name', 'config'} dict, an object or a callable."""
from __future__ import annotations

import inspect


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
        """An instance as {'class_name', 'config'}; a named function as its name."""
        if isinstance(obj, self.base):
            return {"class_name": type(obj).__name__, "config": obj.get_config()}
        name = getattr(obj, "__name__", None)
        if name is not None and self.functions.get(name) is obj:
            return name
        raise ValueError(f"cannot serialize {obj!r} as a {self.kind}: expected "
                         f"{self.expected} known by name")

    def deserialize(self, config, custom_objects: dict | None = None):
        objects = {**self.objects, **(custom_objects or {})}
        if isinstance(config, str):
            if config not in objects:
                raise self.unknown(config)
            return objects[config]
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"Could not interpret {self.kind} config: expected a name or a "
                             f"dict with 'class_name' and 'config', got {config!r}")
        cls = objects.get(config["class_name"])
        if not inspect.isclass(cls):
            raise self.unknown(config["class_name"])
        return cls.from_config(dict(config.get("config") or {}))

    def get(self, identifier):
        """None, a name, a config dict, an instance or a callable (classes are made)."""
        if identifier is None:
            return None
        if isinstance(identifier, dict):
            obj = self.deserialize(identifier)
        elif isinstance(identifier, str):
            obj = self.objects.get(identifier)
            if obj is None:
                raise self.unknown(identifier)
        else:
            obj = identifier
        if not callable(obj):
            raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}; "
                             f"expected a name, {self.expected}")
        return obj() if inspect.isclass(obj) else obj

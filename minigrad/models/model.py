"""Model: a Layer that trains, summarises, finds its layers and saves itself.

`mg.Model(inputs, outputs)` is a functional model (functional.py); a subclass
of `mg.Model` with `__init__` and `call(inputs, training=None)` is a subclassed
model, whose layers, assigned as attributes, are tracked like a Layer's; a
`Sequential` (sequential.py) is a stack of layers. All three train with the same
`compile`/`fit`/`evaluate`/`predict` (trainer.py).
"""
from __future__ import annotations

import inspect
import json

import numpy as np

from ..backends import check_device, default_device
from ..layers.base import Layer
from ..layers.shapes import flatten_shapes, map_shapes
from ..tensor import Tensor, no_grad
from .trainer import Trainer


def _functional_init_arguments(args: tuple, kwargs: dict) -> bool:
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or \
        ("inputs" in kwargs and "outputs" in kwargs)


def _inject_functional(cls: type) -> type:
    """Make a Model subclass that calls `super().__init__(inputs, outputs)` a
    Functional subclass (as Keras does), so that it gets the graph machinery."""
    from .functional import Functional
    if cls is Model:
        return Functional
    if cls is Functional or cls is object:
        return cls
    cls.__bases__ = tuple(_inject_functional(base) for base in cls.__bases__)
    return cls


def _auto_config(cls: type, args: tuple, kwargs: dict) -> dict | None:
    """The constructor's arguments by name, if all are plain JSON values."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
        json.dumps(bound.arguments, allow_nan=False)
    except (TypeError, ValueError):
        return None
    config = {}
    for i, (name, value) in enumerate(bound.arguments.items()):
        param = bound.signature.parameters[name]
        if i == 0 or param.kind is param.VAR_POSITIONAL:
            if i:
                return None  # *args cannot be given back by name
            continue
        if param.kind is param.VAR_KEYWORD:
            config.update(value)
        else:
            config[name] = value
    return config


class Model(Trainer, Layer):
    """Base of every model. Subclass it with `__init__` (create layers as
    attributes) and `call(inputs, training=None)`; or call `Model(inputs,
    outputs)` on symbolic tensors for a functional model."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and _functional_init_arguments(args, kwargs):
            from .functional import Functional
            return object.__new__(Functional)
        model = object.__new__(cls)
        object.__setattr__(model, "_auto_config", _auto_config(cls, args, kwargs))
        return model

    def __init__(self, *args, **kwargs):
        if _functional_init_arguments(args, kwargs):
            from .functional import Functional
            if not isinstance(self, Functional):
                _inject_functional(type(self))
            Functional.__init__(self, *args, **kwargs)
            return
        if args:
            raise TypeError(f"{type(self).__name__}: positional arguments are "
                            f"(inputs, outputs) of a functional model; got {len(args)}")
        Layer.__init__(self, **kwargs)
        Trainer.__init__(self)
        self.device = default_device()

    def call(self, inputs, training=None):
        raise NotImplementedError(f"{type(self).__name__}: a subclassed Model must define "
                                  f"call(self, inputs, training=None)")

    # ---------------------------------------------------------- structure
    @property
    def layers(self) -> list:
        """The model's own layers (for a subclassed model: those assigned as attributes)."""
        return self._sublayers()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by `name` or by `index` in `model.layers`."""
        if name is not None and index is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or \
                    not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"{self.name!r} only has {len(layers)} layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[layer.name for layer in layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def build(self, input_shape=None) -> None:
        """Build a subclassed model by running it once on zeros of `input_shape`
        (batch axis first; None is a batch of 1): every layer makes its weights."""
        shapes = flatten_shapes(input_shape) if input_shape is not None else []
        if not shapes or any(s is None for shape in shapes for s in shape[1:]):
            raise ValueError(f"build: model {self.name!r} needs an input shape with every "
                             f"size but the batch's known, got {input_shape!r}")
        zeros = map_shapes(lambda shape: np.zeros((1 if shape[0] is None else shape[0],) +
                                                   tuple(shape[1:]), self._input_dtype()),
                            input_shape)
        unbuilt = [layer for layer in self._flatten_layers(include_self=True) if not layer.built]
        with no_grad():
            self(zeros)
        for layer in unbuilt:  # built for a batch of any size, as Keras's symbolic build
            if isinstance(layer._build_input_shape, (tuple, list)):
                layer._build_input_shape = map_shapes(lambda s: (None,) + tuple(s[1:]),
                                                       layer._build_input_shape)
        self._build_input_shape = map_shapes(lambda s: (None,) + tuple(s[1:]), input_shape)

    def _maybe_build(self, shapes) -> None:
        if not self.built and type(self).build is Model.build:
            self._mark_built(shapes)  # a subclassed model's layers build during the call
            return
        super()._maybe_build(shapes)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"{what}: model {self.name!r} has not been built yet. Give the "
                             f"first layer an `input_shape` (or start with mg.Input), call "
                             f"model.build(input_shape), or call the model on data first")

    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False,
                layer_range=None) -> None:
        """Print Keras 3's table of layers, output shapes and parameters."""
        from .summary import print_summary
        self._require_built("summary")
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def to(self, device: str) -> "Model":
        """Move every weight (and the optimizer's state) to `device`."""
        self.device = check_device(device)
        Layer.to(self, device)
        if self.optimizer is not None:
            self.optimizer.to(device)
        return self

    # -------------------------------------------------------------- calling
    def _input_dtype(self) -> str:
        return self.dtype

    def _to_tensor(self, x):
        if isinstance(x, Tensor):
            return x.to(self.device)
        if x is None:
            return x
        arr = np.asarray(x)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"model {self.name!r}: expected a numeric array or Tensor, got "
                            f"{type(x).__name__} of dtype {arr.dtype}")
        return Tensor(arr.astype(self._input_dtype(), copy=False), device=self.device)

    def _forward(self, inputs, training: bool, logits: bool = False):
        """The model's output for Tensor inputs; `logits` (the fused loss) is only
        honoured by graph models."""
        return self(inputs, training=training)

    def _softmax_output_layer(self):
        """The layer whose softmax the loss may fuse; a subclassed model's call is
        opaque, so none."""
        return None

    def _input_specs(self) -> list:
        """[(shape or None, dtype, name)] of each input, as far as known."""
        shape = self._build_input_shape if self.built else None
        if not isinstance(shape, (tuple, list)):
            return [(None, self._input_dtype(), None)]
        return [((None,) + tuple(s[1:]), self._input_dtype(), None)
                for s in flatten_shapes(shape)]

    def _input_keys(self) -> list:
        """The names `x` may use as dict keys, in input order."""
        return [name for _, _, name in self._input_specs() if name is not None]

    # ---------------------------------------------------------------- saving
    def save(self, filepath, overwrite: bool = True, zipped=None,
             epoch: int | None = None) -> None:
        """Write config, weights and optimizer state, atomically: `.keras` (Keras 3's
        format, which Keras loads) or `.npz` (minigrad's own); `epoch` is kept for a
        resumed fit."""
        import os
        from ..saving.saving_api import save_model
        if zipped is False:
            raise ValueError("save: zipped=False (a folder) is not supported; minigrad writes "
                             "one file")
        if not overwrite and os.path.exists(os.fspath(filepath)):
            raise FileExistsError(f"save: {os.fspath(filepath)!r} exists and overwrite=False")
        save_model(self, filepath, epoch=epoch)

    def save_weights(self, filepath, overwrite: bool = True, max_shard_size=None) -> None:
        """All weights (and the optimizer's state) in Keras 3's layout: a
        `.weights.h5` file (Keras reads it) or minigrad's `.npz` weights."""
        from ..saving.saving_api import save_weights
        if max_shard_size is not None:
            raise ValueError("save_weights: sharding (max_shard_size) is not supported")
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch: bool = False, **kwargs) -> None:
        """Weights from `.weights.h5` (Keras's or minigrad's), `.keras` or `.npz`
        weights; the whole file is checked before any weight changes."""
        from ..saving.saving_api import load_weights
        if kwargs:
            raise ValueError(f"load_weights: invalid keyword arguments: {sorted(kwargs)}")
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs) -> str:
        """The model's architecture (and compile settings) as JSON, in Keras 3's
        schema; rebuild it with `mg.models.model_from_json`."""
        from ..saving.serialization_lib import serialize_keras_object
        return json.dumps(serialize_keras_object(self, include_compile=True), **kwargs)

    def get_compile_config(self) -> dict | None:
        """What `compile` was given, serialized (Keras 3's); None if not compiled."""
        from ..saving.keras_file import compile_config
        return compile_config(self) if self.compiled and self.optimizer is not None else None

    def compile_from_config(self, config: dict) -> None:
        """Compile as `get_compile_config()` recorded (custom objects come from the
        active custom_object_scope, as in Keras)."""
        from ..saving.keras_file import compile_from_config
        compile_from_config(self, config)

    def get_config(self) -> dict:
        """name and trainable, plus (as Keras's auto-config) the constructor's
        arguments when they were plain JSON values, so that `from_config` can
        rebuild a subclassed model without a get_config of its own."""
        config = {"name": self.name, "trainable": self.trainable}
        auto = getattr(self, "_auto_config", None)
        if auto is not None:
            params = inspect.signature(type(self).__init__).parameters
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
            config = {k: v for k, v in config.items() if takes_any or k in params}
            config.update(auto)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        from .functional import Functional
        if "input_layers" in config and "output_layers" in config:
            target = cls if issubclass(cls, Functional) else Functional
            return target.from_config(config, custom_objects)
        try:
            return cls(**config)
        except TypeError as e:
            raise ValueError(f"Unable to revive model {cls.__name__} from config {config}: "
                             f"{e}. Define get_config() returning the constructor's "
                             f"arguments (and from_config if needed).") from None


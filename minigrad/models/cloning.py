"""`clone_model` (the same architecture with new weights) and `model_from_json`,
as Keras 3's."""
from __future__ import annotations

import json
from typing import Callable

from ..layers.base import Layer
from ..layers.input_layer import InputLayer


def _default_clone(layer: Layer) -> Layer:
    """A new layer from the old one's config: same settings, new weights."""
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function: Callable | None = None,
                call_function=None, recursive: bool = False, **kwargs):
    """A new model with `model`'s architecture and new weights (initialized
    afresh); `clone_function(layer) -> layer` makes each layer (by default from its
    config). Sequential and functional models are rebuilt layer by layer; a
    subclassed model from its config (clone_function does not apply to it)."""
    from .functional import Functional
    from .model import Model
    from .sequential import Sequential
    if not isinstance(model, Model):
        raise ValueError(f"Expected `model` argument to be a `Model` instance. Received: "
                         f"model={model!r}")
    if kwargs:
        raise ValueError(f"Unexpected keyword argument(s): {sorted(kwargs)}")
    if input_tensors is not None or call_function is not None:
        raise NotImplementedError("clone_model: `input_tensors` and `call_function` are not "
                                  "supported by minigrad")
    if clone_function is not None and not callable(clone_function):
        raise ValueError(f"Expected `clone_function` argument to be a callable. Received: "
                         f"clone_function={clone_function!r}")
    fn = clone_function or _default_clone

    def clone(layer: Layer) -> Layer:
        if recursive and isinstance(layer, (Sequential, Functional)):
            return clone_model(layer, clone_function=clone_function, recursive=True)
        new = fn(layer)
        if not isinstance(new, Layer):
            raise ValueError(f"clone_function must return a Layer, got {new!r} for layer "
                             f"{layer.name!r}")
        return new

    if isinstance(model, Sequential):
        new = Sequential(name=model.name, trainable=model.trainable)
        for layer in model._layers:
            new.add(_clone_input(layer) if isinstance(layer, InputLayer) else clone(layer),
                    rebuild=False)
        if new._layers:
            new._maybe_rebuild()
        return new
    if isinstance(model, Functional):
        created = {layer.name: _clone_input(layer) if isinstance(layer, InputLayer)
                   else clone(layer) for layer in model.layers}
        return type(model)._from_layers(model.get_config(), created)
    if clone_function is not None:
        raise ValueError("clone_function is only supported for Sequential and functional "
                         "models; a subclassed model is cloned from its config")
    new = type(model).from_config(model.get_config())
    if model.built and not new.built and model._build_input_shape is not None:
        new.build(model._build_input_shape)
    return new


def _clone_input(layer: InputLayer) -> InputLayer:
    return InputLayer(batch_shape=layer.batch_shape, dtype=layer.dtype, name=layer.name)


def model_from_json(json_string: str, custom_objects: dict | None = None):
    """A model from `model.to_json()` (its architecture; the weights are new)."""
    from ..saving.serialization_lib import deserialize_keras_object
    return deserialize_keras_object(json.loads(json_string), custom_objects)

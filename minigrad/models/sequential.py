"""Sequential: a linear stack of layers, run as a functional graph once its input
shape is known (from an Input, the first layer's `input_shape`, or the first data)."""
from __future__ import annotations

from ..layers.base import Layer
from ..layers.shapes import fmt
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor
from .functional import Functional
from .model import Model


class Sequential(Model):
    """`Sequential([layers...])`: each layer's output is the next one's input."""

    def __init__(self, layers=None, trainable: bool = True, name: str | None = None):
        super().__init__(trainable=trainable, name=name)
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(f"Sequential: `layers` must be a list of layers, got "
                            f"{type(layers).__name__}")
        self._layers: list = []          # an InputLayer first once the input shape is known
        self._symbolic: list = []        # the symbolic output of each entry of _layers
        self._functional = None          # the graph that runs them (made when needed)
        for layer in layers or []:
            self.add(layer, rebuild=False)
        if self._layers:
            self._maybe_rebuild()

    # ---------------------------------------------------------- structure
    def add(self, layer, rebuild: bool = True) -> None:
        """Put `layer` on top of the stack (a Layer, a model, or an `Input`)."""
        if isinstance(layer, KerasTensor):
            origin = layer._keras_history.layer if layer._keras_history else None
            if not isinstance(origin, InputLayer):
                raise TypeError(f"Sequential.add: a symbolic tensor can only be added when it "
                                f"comes from mg.Input(), got {layer}")
            layer = origin
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a minigrad.layers.Layer, got "
                            f"{type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._layers and isinstance(self._layers[0], InputLayer):
                raise ValueError(f"Sequential model {self.name!r} has already been configured "
                                 f"to use input shape {fmt(self._layers[0].batch_shape)}. You "
                                 f"cannot add a different Input layer to it.")
            if self._layers:
                raise ValueError(f"Sequential {self.name!r}: an Input can only be the first "
                                 f"element")
        elif not self._layers and layer._input_shape_arg is not None:
            self.add(InputLayer(shape=layer._input_shape_arg, dtype=layer.dtype), rebuild=False)
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential: all layers need unique names; {layer.name!r} is "
                             f"already in the model")
        if layer is self or self in layer._flatten_layers():
            raise ValueError(f"Sequential {self.name!r}: adding {layer.name!r} would make a "
                             f"cycle (a model cannot contain itself)")
        layer.to(self.device)
        self._layers.append(layer)
        self._functional = None
        if rebuild:
            try:
                self._maybe_rebuild()
            except Exception:
                self._layers.pop()
                raise

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the top layer."""
        if not self.layers:
            raise ValueError(f"Sequential {self.name!r}: there are no layers to pop")
        layer = self._layers.pop()
        del self._symbolic[len(self._layers):]
        self._functional = None
        if len(self._symbolic) < 2:
            self.built = False
        return layer

    @property
    def layers(self) -> list:
        layers = self._layers
        return layers[1:] if layers and isinstance(layers[0], InputLayer) else list(layers)

    def _maybe_rebuild(self) -> None:
        first = self._layers[0]
        if isinstance(first, InputLayer) and len(self._layers) > 1:
            self._build_graph()
        elif isinstance(first, Model) and first.built and len(self._layers) > 1 and \
                hasattr(first, "input_shape") and not isinstance(first.input_shape, list):
            self.build(first.input_shape)

    def build(self, input_shape=None) -> None:
        """Build every layer for `input_shape` (batch axis first, may be None)."""
        if not self._layers:
            raise ValueError(f"Sequential model {self.name!r} cannot be built because it has "
                             f"no layers. Call `model.add(layer)`.")
        shape = (None,) + tuple(input_shape[1:])
        first = self._layers[0]
        if isinstance(first, InputLayer):
            if tuple(first.batch_shape[1:]) != shape[1:]:
                raise ValueError(f"Sequential model {self.name!r} has already been configured "
                                 f"to use input shape {fmt(first.batch_shape)}. You cannot "
                                 f"build it with input_shape {fmt(tuple(input_shape))}")
        else:
            self._layers.insert(0, InputLayer(batch_shape=shape, dtype=first.dtype))
        self._build_graph()

    def _build_graph(self) -> None:
        """Call each layer not yet in the graph on the symbolic output below it."""
        if not self._symbolic:
            self._symbolic = [self._layers[0].output]
        for layer in self._layers[len(self._symbolic):]:
            self._symbolic.append(layer(self._symbolic[-1]))
        self._functional = None
        if len(self._symbolic) > 1:
            self.built = True
            self._build_input_shape = self._layers[0].batch_shape

    def _graph(self) -> Functional:
        if self._functional is None:
            self._functional = Functional(self._symbolic[0], self._symbolic[-1],
                                          name=f"{self.name}_graph", _device=self.device)
        self._functional.device = self.device  # follows model.to(...)
        return self._functional

    @property
    def inputs(self) -> list:
        self._require_graph("inputs")
        return [self._symbolic[0]]

    @property
    def outputs(self) -> list:
        self._require_graph("outputs")
        return [self._symbolic[-1]]

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    @property
    def input_shape(self) -> tuple:
        self._require_graph("input_shape")
        return self._symbolic[0].shape

    @property
    def output_shape(self) -> tuple:
        self._require_graph("output_shape")
        return self._symbolic[-1].shape

    def _require_graph(self, what: str) -> None:
        if len(self._symbolic) < 2:
            raise AttributeError(f"Sequential model {self.name!r} has no defined {what} yet: "
                                 f"it is not built")

    # -------------------------------------------------------------- calling
    def _input_dtype(self) -> str:
        layers = self.layers
        return layers[0].dtype if layers else "float32"

    def _check_input_spec(self, shape: tuple) -> None:
        if self._layers and isinstance(self._layers[0], InputLayer):
            want = self._layers[0].batch_shape
            if len(shape) != len(want) or any(a is not None and b is not None and a != b
                                               for a, b in zip(shape[1:], want[1:])):
                raise ValueError(f"model {self.name!r} expects inputs of shape {fmt(want)}, "
                                 f"got {fmt(tuple(shape))}")

    def _maybe_build(self, shapes) -> None:
        if not self.built:
            if not self.layers:
                raise ValueError(f"Sequential {self.name!r} has no layers")
            self.build(tuple(shapes))
        else:
            self._check_input_spec(tuple(shapes))

    def call(self, inputs, training=None):
        return self._graph().call(inputs, training=training)

    def _forward(self, inputs, training: bool, logits: bool = False):
        if not self.built:
            self._maybe_build(tuple(inputs.shape))
        return self._graph()._forward(inputs, training, logits)

    def _softmax_output_layer(self):
        return self._graph()._softmax_output_layer() if self.built else None

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return self._graph().compute_output_shape(input_shape)

    def _input_specs(self) -> list:
        if not self.built:
            return [(None, self._input_dtype(), None)]
        return [(self.input_shape, self._input_dtype(), self._layers[0].name)]

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        """Keras 3's Sequential config: every layer (the InputLayer first, once the
        input shape is known) in Keras's serialisation schema."""
        from ..saving.serialization_lib import serialize_keras_object
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": {"module": "keras", "class_name": "DTypePolicy",
                            "config": {"name": self.dtype}, "registered_name": None},
                  "layers": [serialize_keras_object(layer) for layer in self._layers]}
        if self._layers and isinstance(self._layers[0], InputLayer):
            config["build_input_shape"] = list(self._layers[0].batch_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        """A Sequential from Keras 3's config (or minigrad's older one, whose layers
        leave out the Input and whose `input_shape` gives it)."""
        from ..saving.serialization_lib import as_shape, deserialize_keras_object
        if isinstance(config, list):  # Keras 2's bare list of layers
            config = {"layers": config}
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("input_shape") is not None:
            model.add(InputLayer(shape=tuple(config["input_shape"])), rebuild=False)
        for spec in config["layers"]:
            layer = deserialize_keras_object(spec, custom_objects)
            if not isinstance(layer, Layer):
                raise ValueError(f"Sequential {model.name!r}: the config entry "
                                 f"{spec.get('class_name')!r} is not a layer")
            model.add(layer, rebuild=False)
        shape = config.get("build_input_shape")
        if model._layers and not isinstance(model._layers[0], InputLayer) and shape:
            model.build(as_shape(shape))
        elif model._layers:
            model._maybe_rebuild()
        return model

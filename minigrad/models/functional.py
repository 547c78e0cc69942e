"""Functional models: `Model(inputs, outputs)` over a graph of layer calls.

The graph is fixed when the model is made (any DAG, several inputs and outputs as
lists or dicts, shared layers, models used as layers); calling the model runs it
on real Tensors through a `Plan` (graph.py), which fuses what can be fused.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import tree
from ..layers.shapes import flatten_shapes, fmt
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor
from ..tensor import Tensor
from .graph import Plan, map_graph
from .model import Model


class Functional(Model):
    """A model defined by its symbolic inputs and outputs: `mg.Model(inputs, outputs)`."""

    def __init__(self, inputs, outputs, name: str | None = None, trainable: bool = True,
                 **kwargs):
        for what, struct in (("inputs", inputs), ("outputs", outputs)):
            for x in tree.flatten(struct):
                if not isinstance(x, KerasTensor):
                    raise ValueError(f"All `{what}` values must be KerasTensors (from "
                                     f"mg.Input() or a layer called on one). Received: "
                                     f"{what}={struct!r} including {x!r} of type "
                                     f"{type(x).__name__}")
        if isinstance(inputs, dict):
            for key, x in inputs.items():
                if key != x.name:
                    warnings.warn(f"When providing `inputs` as a dict, all keys in the dict "
                                  f"must match the names of the corresponding tensors. "
                                  f"Received key '{key}' mapping to value {x} which has name "
                                  f"'{x.name}'. Change the tensor name to '{key}' (via "
                                  f"`Input(..., name='{key}')`)", stacklevel=2)
        device = kwargs.pop("_device", None)  # a Sequential's graph runs on its device
        super().__init__(name=name, trainable=trainable, **kwargs)
        if device is not None:
            self.device = device
        self._inputs_struct = tree.map_structure(lambda x: x, inputs)
        self._outputs_struct = tree.map_structure(lambda x: x, outputs)
        self._inputs, self._outputs = tree.flatten(inputs), tree.flatten(outputs)
        if len({id(x) for x in self._inputs}) != len(self._inputs):
            raise ValueError(f"Model {self.name!r}: the same Input appears twice in `inputs` "
                             f"({[x.name for x in self._inputs]})")
        if not self._inputs or not self._outputs:
            raise ValueError(f"Model {self.name!r}: `inputs` and `outputs` cannot be empty. "
                             f"Received: inputs={inputs}, outputs={outputs}")
        self._nodes, nodes_by_depth, self._operations = map_graph(self._inputs, self._outputs)
        self._nodes_by_depth = nodes_by_depth
        self._plan = Plan(self._inputs, self._outputs, nodes_by_depth)
        self.output_names = [x._keras_history.layer.name for x in self._outputs]
        self.built = True
        self._build_input_shape = self.input_shape
        if not trainable:
            self.trainable = False
        self.to(self.device)

    # ---------------------------------------------------------- structure
    @property
    def layers(self) -> list:
        return list(self._operations)

    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = [x.shape for x in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = tree.map_structure(lambda x: x.shape, self._outputs_struct)
        return shapes[0] if isinstance(shapes, list) and len(shapes) == 1 else shapes

    def build(self, input_shape=None) -> None:
        """A functional model is built when it is made."""

    def compute_output_shape(self, input_shape):
        shapes = flatten_shapes(input_shape)
        if len(shapes) != len(self._inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self._inputs)} input(s), got "
                             f"shapes {input_shape}")
        for shape, x in zip(shapes, self._inputs):
            self._check_shape(shape, x)
        batch = next((s[0] for s in shapes if s and s[0] is not None), None)
        return tree.map_structure(lambda x: (batch,) + tuple(x.shape[1:]), self._outputs_struct)

    # ---------------------------------------------------------------- calling
    def _check_input_spec(self, shape: tuple) -> None:
        if len(self._inputs) == 1:
            self._check_shape(shape, self._inputs[0])

    def _check_shape(self, shape: tuple, ref: KerasTensor) -> None:
        if len(shape) != len(ref.shape) or any(
                a is not None and b is not None and a != b
                for a, b in zip(shape[1:], ref.shape[1:])):
            raise ValueError(f"Model {self.name!r}: input {ref.name!r} expects shape "
                             f"{fmt(ref.shape)}, got {fmt(shape)}")

    def _input_specs(self) -> list:
        return [(x.shape, x.dtype, x.name) for x in self._inputs]

    def _input_keys(self) -> list:
        if isinstance(self._inputs_struct, dict):
            return sorted(self._inputs_struct)
        return [x.name for x in self._inputs]

    def _input_dtype(self) -> str:
        return self._inputs[0].dtype

    def _to_tensor(self, x):
        return x  # converted per input (each has its own dtype) by _standardize_inputs

    def _standardize_inputs(self, inputs) -> list:
        """The model's inputs as a flat list of Tensors in `self.inputs` order, from a
        single array, a list or a dict (keyed as the inputs were, or by input name)."""
        names = [x.name for x in self._inputs]
        if isinstance(inputs, dict):
            if isinstance(self._inputs_struct, dict):
                keys = sorted(self._inputs_struct)
            else:
                keys = names
            missing = [k for k in keys if k not in inputs]
            if missing:
                raise ValueError(f"Model {self.name!r}: the input dict lacks {missing}; the "
                                 f"model's inputs are {keys}, got keys {sorted(inputs)}")
            flat = [inputs[k] for k in keys]
        elif isinstance(inputs, (list, tuple)) and not all(
                isinstance(v, (int, float, np.number)) for v in tree.flatten(inputs)):
            flat = tree.flatten(inputs)
        else:
            flat = [inputs]
        if len(flat) != len(self._inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self._inputs)} input(s) "
                             f"{names}, got {len(flat)}")
        out = []
        for value, ref in zip(flat, self._inputs):
            if isinstance(value, Tensor):
                value = value.to(self.device)
            else:
                arr = np.asarray(value)
                if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or
                                               arr.dtype == bool):
                    raise TypeError(f"Model {self.name!r}: input {ref.name!r} must be numeric, "
                                    f"got {type(value).__name__} of dtype {arr.dtype}")
                value = Tensor(arr.astype(ref.dtype, copy=False), device=self.device)
            self._check_shape(value.shape, ref)
            out.append(value)
        return out

    def call(self, inputs, training=None):
        return self._pack(self._plan.run(self._standardize_inputs(inputs), training))

    def _forward(self, inputs, training: bool, logits: bool = False):
        return self._pack(self._plan.run(self._standardize_inputs(inputs), training, logits))

    def _pack(self, flat: list):
        return flat[0] if isinstance(self._outputs_struct, KerasTensor) else \
            tree.pack_sequence_as(self._outputs_struct, flat)

    def _softmax_output_layer(self):
        node = self._plan.logits_node
        return None if node is None else node.layer

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        """Layers with the calls that connect them, and the input/output tensors, as
        Keras's functional config: tensors are [layer name, node index, tensor index]."""
        kept = {}  # (layer id, original node index) -> index among this model's nodes
        for layer in self._operations:
            count = 0
            for i, node in enumerate(layer._inbound_nodes):
                if node in self._nodes:
                    kept[(id(layer), i)] = count
                    count += 1

        def ref(x):
            h = x._keras_history
            return [h.layer.name, kept[(id(h.layer), h.node_index)], h.tensor_index]

        def arg(x):
            if isinstance(x, KerasTensor):
                return {"class_name": "__keras_tensor__",
                        "config": {"shape": list(x.shape), "dtype": x.dtype,
                                   "keras_history": ref(x)}}
            return serialize_keras_object(x)

        from ..saving.serialization_lib import serialize_keras_object
        layers = []
        for layer in self._operations:
            nodes = [{"args": tree.map_structure(arg, list(n.call_args)),
                      "kwargs": tree.map_structure(arg, n.call_kwargs)}
                     for n in layer._inbound_nodes if n in self._nodes and not n.is_input]
            layers.append({**serialize_keras_object(layer), "name": layer.name,
                           "inbound_nodes": nodes})
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": tree.map_structure(ref, self._inputs_struct),
                "output_layers": tree.map_structure(ref, self._outputs_struct)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Functional":
        from ..layers.base import Layer
        from ..saving.serialization_lib import deserialize_keras_object
        created = {}
        for spec in config["layers"]:
            layer = deserialize_keras_object(
                {k: v for k, v in spec.items() if k not in ("name", "inbound_nodes")},
                custom_objects)
            if not isinstance(layer, Layer):
                raise ValueError(f"functional config of {config.get('name')!r}: the entry "
                                 f"{spec.get('name')!r} is not a layer")
            created[spec["name"]] = layer
        return cls._from_layers(config, created)

    @classmethod
    def _from_layers(cls, config: dict, created: dict) -> "Functional":
        """Replay the config's layer calls on `created` ({name: layer}), in an order
        where every call finds its inputs made."""
        tensors, pending = {}, []  # (name, node, index) -> tensor
        for spec in config["layers"]:
            layer = created[spec["name"]]
            if isinstance(layer, InputLayer):
                tensors[(spec["name"], 0, 0)] = layer.output
            pending.extend((layer, spec["name"], node) for node in spec["inbound_nodes"])
        counts = {}
        while pending:  # a node runs once every tensor it reads exists
            progress, waiting = False, []
            for layer, name, node in pending:
                refs = _tensor_refs(node)
                if all(tuple(r) in tensors for r in refs):
                    args, kwargs = _fill(node["args"], tensors), _fill(node["kwargs"], tensors)
                    # Keras records `training` and an absent `mask` in its nodes; the
                    # model's own call decides `training`, as in Keras
                    kwargs = {k: v for k, v in kwargs.items()
                              if k != "training" and not (k == "mask" and v is None)}
                    out = layer(*args, **kwargs)
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    for i, x in enumerate(tree.flatten(out)):
                        tensors[(name, index, i)] = x
                    progress = True
                else:
                    waiting.append((layer, name, node))
            if not progress:
                raise ValueError(f"functional config of {config.get('name')!r}: the calls of "
                                 f"{sorted({n for _, n, _ in waiting})} read tensors that no "
                                 f"layer produces")
            pending = waiting

        def tensor(r):
            key = tuple(r)
            if key not in tensors:
                raise ValueError(f"functional config of {config.get('name')!r}: no tensor "
                                 f"{list(r)}")
            return tensors[key]
        inputs = _map_refs(tensor, config["input_layers"])
        outputs = _map_refs(tensor, config["output_layers"])
        return cls(inputs, outputs, name=config.get("name"),
                   trainable=config.get("trainable", True))


def _ref(x) -> list | None:
    """[layer name, node, index] of a serialized symbolic tensor (Keras 3's
    `__keras_tensor__` entry, or minigrad's older {"__keras_tensor__": ref})."""
    if not isinstance(x, dict):
        return None
    if "__keras_tensor__" in x:
        return x["__keras_tensor__"]
    if x.get("class_name") == "__keras_tensor__":
        return (x.get("config") or {}).get("keras_history")
    return None


def _tensor_refs(node: dict) -> list:
    found = []

    def visit(x):
        if isinstance(x, dict):
            if _ref(x) is not None:
                found.append(_ref(x))
            else:
                for v in x.values():
                    visit(v)
        elif isinstance(x, list):
            for v in x:
                visit(v)
    visit(node)
    return found


def _fill(structure, tensors: dict):
    if isinstance(structure, dict):
        if _ref(structure) is not None:
            return tensors[tuple(_ref(structure))]
        return {k: _fill(v, tensors) for k, v in structure.items()}
    if isinstance(structure, list):
        return [_fill(v, tensors) for v in structure]
    return structure


def _map_refs(fn, structure):
    """Apply fn to each [name, node, index] reference in a config's input/output layers."""
    if isinstance(structure, dict):
        return {k: _map_refs(fn, v) for k, v in structure.items()}
    if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
        return fn(structure)
    return [_map_refs(fn, v) for v in structure]


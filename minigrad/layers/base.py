"""The Layer base class: Keras's build/call split, weights as Tensors, sublayers tracked.

A layer builds its weights from the first input shape (`build`), computes with
Tensor operations (`call`; autograd does the backward) and keeps track of what
it owns: weights made by `add_weight`, and layers, models and weights assigned
as attributes (also inside lists and dicts), recursively, in Keras's order.
Called on symbolic tensors (`Input`), a layer records the call instead of
computing it (see node.py); that is how functional models are made.
"""
from __future__ import annotations

import collections
import functools
import inspect
import re
import threading

import numpy as np

from .. import initializers, tree
from ..backends import get_backend
from ..tensor import Tensor, is_grad_enabled, no_grad
from .node import KerasTensor, Node, keras_tensors

_name_counts: collections.Counter = collections.Counter()
LAYER_CLASSES: dict = {}  # class name -> class, for load_model
_context = threading.local()  # the `training` value of the outermost layer call


def to_snake_case(name: str) -> str:
    """Keras's class name -> layer name: MaxPooling2D -> max_pooling2d, MLPBlock -> mlp_block."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(prefix: str) -> str:
    """'dense', then 'dense_1', ... (Keras's counters; explicit names don't advance them)."""
    base = to_snake_case(prefix)
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def check_shape(shape, arg: str, owner: str, allow_none: bool = False) -> tuple:
    """A shape without the batch axis: a tuple of positive ints (or None where allowed)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    ok = isinstance(shape, (tuple, list)) and all(
        (s is None and allow_none) or
        (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0) for s in shape)
    if not ok:
        raise ValueError(f"{owner}: `{arg}` must be a tuple of positive ints"
                         f"{' or None' if allow_none else ''} (without the batch axis), got "
                         f"{shape!r}")
    return tuple(None if s is None else int(s) for s in shape)


def _recording_build(build):
    """Wrap a subclass's `build` so that calling it, directly or on first use,
    marks the layer built and remembers the shape (Keras's build wrapper): a
    second build of a built layer only checks the shape, it never makes a
    second set of weights."""
    @functools.wraps(build)
    def wrapper(self, input_shape=None, *args, **kwargs):
        if self.built:
            if _is_shape(input_shape):
                self._check_input_spec(tuple(input_shape))
            return None
        result = build(self, input_shape, *args, **kwargs)
        self._mark_built(input_shape)
        return result
    wrapper._records_build = True
    return wrapper


def _is_shape(shape) -> bool:
    return isinstance(shape, (tuple, list)) and all(
        s is None or isinstance(s, (int, np.integer)) for s in shape)


class Layer:
    """Base of every layer; subclass with `build(input_shape)` and `call(inputs)`.

    `build` creates weights with `add_weight` once the input shape is known;
    `call` computes the output from Tensors, and autograd does the backward.
    `training` reaches every layer whose `call` takes it: given explicitly, or
    from the outermost layer/model call (Keras's call context).
    """

    input_ndim: int | None = None   # exact rank expected, batch included
    min_ndim: int = 1
    # attributes holding framework bookkeeping, not sublayers
    _UNTRACKED = frozenset({"_inbound_nodes", "_outbound_nodes", "_functional",
                            "_compiled_trainable_state"})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_CLASSES[cls.__name__] = cls
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_records_build", False):
            cls.build = _recording_build(build)

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, input_dim=None, **kwargs):
        owner = type(self).__name__
        if kwargs:
            raise TypeError(f"{owner}: unexpected keyword argument(s) {sorted(kwargs)}")
        if name is None:
            name = auto_name(owner)
        elif not isinstance(name, str) or not name or "/" in name:
            raise TypeError(f"{owner}: `name` must be a non-empty string without '/', got "
                            f"{name!r}")
        self.name = name
        if not isinstance(trainable, (bool, np.bool_)):
            raise TypeError(f"{owner} {name!r}: `trainable` must be a bool, got {trainable!r}")
        try:
            self.dtype = np.dtype("float32" if dtype is None else dtype).name
        except TypeError:
            raise TypeError(f"{owner} {name!r}: unknown dtype {dtype!r}") from None
        if self.dtype not in ("float32", "float64"):
            raise TypeError(f"{owner} {name!r}: dtype must be float32 or float64, got {dtype!r}")
        if input_dim is not None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else \
            check_shape(input_shape, "input_shape", f"{owner} {name!r}")
        self.built = False
        self.device = "cpu"
        self._weights: list = []
        self._trainable = bool(trainable)
        self._input_spec: tuple | None = None   # (rank, {axis: size}) fixed at build
        self._build_input_shape = None
        self._inbound_nodes: list = []
        self._outbound_nodes: list = []
        params = inspect.signature(self.call).parameters
        self._takes_training = "training" in params

    # ------------------------------------------------------------- contract
    def build(self, input_shape) -> None:
        """Create weights for `input_shape` (batch axis included, may be None)."""
        self._mark_built(input_shape)

    def call(self, inputs, training: bool = False):
        return inputs

    def compute_output_shape(self, input_shape):
        """Output shape for `input_shape`; by default found by running the layer on
        zeros (twice where sizes are unknown: an axis whose size follows the
        input's comes back as None)."""
        return _probe_output_shape(self, input_shape)

    # ---------------------------------------------------------- calling it
    def __call__(self, *args, **kwargs):
        if not args:
            raise TypeError(f"layer {self.name!r}: called without inputs")
        if keras_tensors((args, kwargs)):
            return self._symbolic_call(args, kwargs)
        first = args[0]
        first = tree.map_structure(self._to_tensor, first) if _holds_arrays(first) else \
            self._to_tensor(first)
        args = (first,) + tuple(
            self._to_tensor(a) if isinstance(a, np.ndarray) else a for a in args[1:])
        self._maybe_build(tree.map_structure(_shape_of, first))
        outputs = self._call_in_context(args, kwargs)
        self._check_outputs(outputs)
        return outputs

    def _call_in_context(self, args: tuple, kwargs: dict):
        """self.call(...) with `training` resolved as Keras does: the explicit value,
        else the outer call's, else the call signature's default."""
        outermost = not hasattr(_context, "training")
        explicit = kwargs.pop("training", None)
        if explicit is not None:
            _context.training = bool(explicit)
        elif outermost:
            _context.training = None
        try:
            training = _context.training
            if self._takes_training and training is not None:
                kwargs["training"] = training
            return self.call(*args, **kwargs)
        finally:
            if outermost:
                del _context.training

    def _to_tensor(self, x):
        if isinstance(x, Tensor) or x is None:
            return x
        arr = np.asarray(x)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"layer {self.name!r}: expected a numeric array or Tensor, got "
                            f"{type(x).__name__} of dtype {arr.dtype}")
        return Tensor(arr.astype(self.dtype, copy=False), device=self.device)

    def _check_outputs(self, outputs) -> None:
        """A call must answer Tensors: a NumPy array would silently cut the graph."""
        for x in tree.flatten(outputs):
            if isinstance(x, np.ndarray):
                raise TypeError(
                    f"layer {self.name!r} ({type(self).__name__}): call() returned a "
                    f"numpy.ndarray of shape {x.shape}; it must return Tensors (compute with "
                    f"Tensor operations, or gradients cannot flow"
                    f"{' through it' if is_grad_enabled() else ''})")

    def _symbolic_call(self, args: tuple, kwargs: dict):
        """Build from the KerasTensors' shapes, work out the output shapes and record
        the call as a Node; nothing is computed."""
        first = args[0]
        shapes = tree.map_structure(
            lambda x: x.shape if isinstance(x, KerasTensor) else _shape_of(x), first)
        self._maybe_build(shapes)
        out_shapes = self.compute_output_shape(shapes)
        dtype = self.dtype

        def make(shape):
            return KerasTensor(shape, dtype)
        outputs = _map_shapes(make, out_shapes)
        Node(self, args, kwargs, outputs)
        return outputs

    def _maybe_build(self, shapes) -> None:
        """Build on first use; afterwards check the input against what was built."""
        if _is_shape(shapes):
            shapes = tuple(shapes)
            self._check_rank(shapes)
        if self.built:
            if _is_shape(shapes):
                self._check_input_spec(shapes)
            return
        self.build(shapes)
        self._mark_built(shapes)

    def ensure_built(self, shape: tuple) -> None:
        """Build for `shape` if not built yet, else check it (kept for callers)."""
        self._maybe_build(tuple(shape))

    def _mark_built(self, input_shape) -> None:
        if self.built:
            return
        self.built = True
        self._build_input_shape = input_shape
        if self._input_spec is None and _is_shape(input_shape) and len(input_shape):
            last = input_shape[-1]
            self._input_spec = (len(input_shape),
                                {-1: last} if self._weights and last is not None else {})

    def _check_input_spec(self, shape: tuple) -> None:
        if self._input_spec is None:
            return
        _, axes = self._input_spec
        for axis, size in axes.items():
            if len(shape) >= -axis and shape[axis] is not None and shape[axis] != size:
                raise ValueError(
                    f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                    f"axis {axis} of input shape to have value {size}, but received input "
                    f"with shape {_fmt(shape)} (the layer was built for input shape "
                    f"{_fmt(tuple(self._build_input_shape))})")

    def _check_rank(self, shape: tuple) -> None:
        if self.input_ndim is not None and len(shape) != self.input_ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected ndim={self.input_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {_fmt(shape)}")
        if len(shape) < self.min_ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected min_ndim={self.min_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {_fmt(shape)}")

    # ------------------------------------------------------------ weights
    def add_weight(self, name: str | None = None, shape=None, initializer=None,
                   trainable: bool = True, dtype=None) -> Tensor:
        """Create a weight Tensor, keep track of it, and return it.

        `add_weight("kernel", (3, 4), "zeros")` or, as in Keras 3,
        `add_weight(shape=(3, 4), initializer="zeros", name="kernel")`.
        """
        if shape is None and name is not None and not isinstance(name, str):
            name, shape = None, name  # Keras 3's positional order: add_weight(shape, ...)
        if name is None:
            count = sum(1 for w in self._weights if w.name.split("/")[-1].startswith("variable"))
            name = "variable" if count == 0 else f"variable_{count}"
        owner = f"layer {self.name!r} weight {name!r}"
        shape = check_shape(() if shape is None else shape, "shape", owner)
        init = initializers.get("glorot_uniform" if initializer is None else initializer, owner)
        dtype = np.dtype(dtype or self.dtype)
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        try:
            value = init(tuple(shape), dtype.name)
            w = Tensor(value, requires_grad=bool(trainable), device=self.device)
        except (MemoryError, ValueError) as e:
            if isinstance(e, ValueError) and "too big" not in str(e) and \
                    "maximum supported dimension" not in str(e):
                raise
            raise MemoryError(f"{owner}: a weight of shape {tuple(shape)} ({dtype.name}) needs "
                              f"{nbytes:,} bytes, more than can be allocated") from None
        w.name, w.trainable, w._created_trainable = f"{self.name}/{name}", bool(trainable), \
            bool(trainable)
        self._weights.append(w)
        return w

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Tensor) and name not in self._UNTRACKED and (
                hasattr(value, "trainable") or (value.requires_grad and value.is_leaf)):
            self._track_weight(name, value)
        elif isinstance(value, (Layer, list, tuple, dict)) and name not in self._UNTRACKED:
            for layer in _layers_in(value):
                if layer is self or self in layer._flatten_layers():
                    raise ValueError(f"layer {self.name!r}: assigning {layer.name!r} to "
                                     f"`{name}` would make a cycle (a layer cannot contain "
                                     f"itself)")
        object.__setattr__(self, name, value)

    def _track_weight(self, name: str, w: Tensor) -> None:
        """A weight assigned as an attribute (e.g. a leaf Tensor with requires_grad,
        like torch.nn.Parameter) becomes one of this layer's weights."""
        if "_weights" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               f"assigning weights to attributes")
        if any(w is mine for mine in self._weights):
            return
        if not hasattr(w, "trainable"):
            w.name, w.trainable, w._created_trainable = f"{self.name}/{name}", True, True
        self._weights.append(w)

    def _sublayers(self) -> list:
        """Layers assigned as attributes (or in lists/dicts), first assignment first."""
        found, seen = [], {id(self)}
        for key, value in self.__dict__.items():
            if key in self._UNTRACKED:
                continue
            for layer in _layers_in(value):
                if id(layer) not in seen:
                    seen.add(id(layer))
                    found.append(layer)
        return found

    def _flatten_layers(self, include_self: bool = False) -> list:
        """Every layer below this one (depth first), each once."""
        out, seen, stack = [], {id(self)}, list(reversed(self._sublayers()))
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers()))
        return ([self] if include_self else []) + out

    @property
    def weights(self) -> list:
        """Own weights (created trainable first, as Keras), then each sublayer's."""
        own = [w for w in self._weights if w._created_trainable] + \
            [w for w in self._weights if not w._created_trainable]
        seen, out = set(), []
        for w in own + [w for layer in self._sublayers() for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze this layer and, recursively, its sublayers.

        Frozen weights get no gradient. As in Keras, a model compiled before the
        change trains the weights chosen at `compile` until compiled again."""
        value = bool(value)
        self._trainable = value
        for w in self._weights:
            if w._created_trainable:
                w.trainable = w.requires_grad = value
        for layer in self._sublayers():
            layer.trainable = value

    @property
    def trainable_weights(self) -> list:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        return [w for w in self.weights if not w.trainable] if self.trainable else self.weights

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"count_params: layer {self.name!r} has not been built yet; build "
                             f"it with layer.build(input_shape) or call it on data first")
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> list:
        """NumPy copies of the weights, in Keras's order."""
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Copy `weights` (NumPy arrays, Keras's order) into the layer; all or nothing."""
        mine = self.weights
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"layer {self.name!r}: set_weights expects a list of arrays, got "
                            f"{type(weights).__name__}")
        if len(weights) != len(mine):
            raise ValueError(f"layer {self.name!r}: set_weights expected {len(mine)} arrays, got "
                             f"{len(weights)}")
        arrays = []
        for w, new in zip(mine, weights):
            new = new.numpy() if isinstance(new, Tensor) else np.asarray(new)
            if not (np.issubdtype(new.dtype, np.floating) or np.issubdtype(new.dtype, np.integer)):
                raise TypeError(f"layer {self.name!r}: weight {w.name!r} must be numeric, got "
                                f"dtype {new.dtype}")
            if new.shape != w.shape:
                raise ValueError(f"layer {self.name!r}: weight {w.name!r} has shape {w.shape}, "
                                 f"got an array of shape {new.shape}")
            arrays.append(new)
        for w, new in zip(mine, arrays):
            # a copy: training must never write into the caller's arrays
            w.data = get_backend(w.device).asarray(np.array(new, dtype=w.dtype, order="C"))

    def to(self, device: str) -> "Layer":
        """Move this layer's weights (and its sublayers') to `device` in place."""
        backend = get_backend(device)
        for w in self._weights:
            if w.device != backend.name:
                w.data, w.device = backend.asarray(w.numpy()), backend.name
        self.device = backend.name
        for layer in self._sublayers():
            layer.to(device)
        return self

    # -------------------------------------------------------- graph access
    def _node_attribute(self, attr: str, what: str):
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} has never been called on a symbolic "
                                 f"input (Input) and thus has no defined {what}")
        values = getattr(self._inbound_nodes[0], attr)
        return values[0] if len(values) == 1 else values

    @property
    def input(self):
        """The symbolic input of this layer's first call (functional models)."""
        return self._node_attribute("input_tensors", "input")

    @property
    def output(self):
        """The symbolic output of this layer's first call (functional models)."""
        return self._node_attribute("outputs", "output")

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


def _layers_in(value):
    """The Layers inside an attribute value (a layer, or lists/tuples/dicts of them)."""
    if isinstance(value, Layer):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _layers_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _layers_in(item)


def _holds_arrays(x) -> bool:
    """A list/tuple/dict of arrays or Tensors (several inputs), as opposed to nested
    lists of numbers (one array written as lists)."""
    return tree.is_nested(x) and any(
        x is None or isinstance(x, (np.ndarray, Tensor, KerasTensor)) or hasattr(x, "shape")
        for x in tree.flatten(x))


def _shape_of(x):
    return tuple(x.shape) if hasattr(x, "shape") else x


def _map_shapes(fn, shapes):
    """fn applied to each shape (a tuple of ints/None) in a nested list/dict of shapes."""
    if _is_shape(shapes):
        return fn(tuple(shapes))
    if isinstance(shapes, dict):  # sorted keys: the flat order of tree.flatten
        return {k: _map_shapes(fn, shapes[k]) for k in sorted(shapes)}
    return type(shapes)(_map_shapes(fn, s) for s in shapes)


def _flatten_shapes(shapes) -> list:
    flat = []
    _map_shapes(flat.append, shapes)
    return flat


def _probe_output_shape(layer: Layer, input_shape):
    """Run `layer` on zeros of `input_shape` (no graph) to learn its output shape.
    Unknown sizes (None) are probed as 1 and as 2: an output axis whose size
    differs between the two runs is reported as None."""
    unknown = any(s is None for shape in _flatten_shapes(input_shape) for s in shape)

    def run(fill: int):
        inputs = _map_shapes(lambda shape: np.zeros(
            tuple(fill if s is None else s for s in shape), layer.dtype), input_shape)
        with no_grad():
            out = layer(inputs)
        return [tuple(x.shape) for x in tree.flatten(out)], out

    first, out = run(1)
    second = run(2)[0] if unknown else first
    merged = [tuple(a if a == b else None for a, b in zip(s1, s2))
              for s1, s2 in zip(first, second)]
    return merged[0] if isinstance(out, Tensor) else tree.pack_sequence_as(out, merged)


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"

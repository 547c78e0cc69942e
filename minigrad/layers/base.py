"""The Layer base class: Keras's build/call split, weights as Tensors, sublayers tracked.

A layer builds its weights from the first input shape (`build`), computes with
Tensor operations (`call`; autograd does the backward) and keeps track of what
it owns: weights made by `add_weight`, and layers, models and weights assigned
as attributes (also inside lists and dicts), recursively, in Keras's order.
Called on symbolic tensors (`Input`), a layer records the call instead of
computing it (see node.py); that is how functional models are made.
"""
from __future__ import annotations

import functools
import inspect
import threading

import numpy as np

from .. import regularizers, tree
from ..tensor import Tensor, is_grad_enabled
# Keras's automatic names ('dense', 'dense_1', ...): one counter per prefix, shared with
# metrics and losses as Keras's are; explicit names don't advance them
from ..utils.naming import _uids as _name_counts, auto_name, to_snake_case  # noqa: F401
from .node import KerasTensor, Node, keras_tensors
from .shapes import check_shape, fmt, is_shape, map_shapes, probe_output_shape, shape_of
from .tracking import Tracking

__all__ = ["Layer", "LAYER_CLASSES", "auto_name", "check_shape", "to_snake_case"]

LAYER_CLASSES: dict = {}  # class name -> class, for load_model
_context = threading.local()  # the `training` value of the outermost layer call



def _recording_build(build):
    """Wrap a subclass's `build` so that calling it, directly or on first use,
    marks the layer built and remembers the shape (Keras's build wrapper): a
    second build of a built layer only checks the shape, it never makes a
    second set of weights."""
    @functools.wraps(build)
    def wrapper(self, input_shape=None, *args, **kwargs):
        if self.built:
            if is_shape(input_shape):
                self._check_input_spec(tuple(input_shape))
            return None
        result = build(self, input_shape, *args, **kwargs)
        self._mark_built(input_shape)
        return result
    wrapper._records_build = True
    return wrapper


class Layer(Tracking):
    """Base of every layer; subclass with `build(input_shape)` and `call(inputs)`.

    `build` creates weights with `add_weight` once the input shape is known;
    `call` computes the output from Tensors, and autograd does the backward.
    `training` reaches every layer whose `call` takes it: given explicitly, or
    from the outermost layer/model call (Keras's call context).
    """

    input_ndim: int | None = None   # exact rank expected, batch included
    min_ndim: int = 1
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_CLASSES[cls.__name__] = cls
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_records_build", False):
            cls.build = _recording_build(build)

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, input_dim=None, activity_regularizer=None, **kwargs):
        owner = type(self).__name__
        if kwargs:
            raise TypeError(f"{owner}: unexpected keyword argument(s) {sorted(kwargs)}")
        if name is None:
            name = auto_name(owner)
        elif not isinstance(name, str) or not name or "/" in name:
            raise TypeError(f"{owner}: `name` must be a non-empty string without '/', got "
                            f"{name!r}")
        self.name = name
        if isinstance(dtype, dict):  # Keras 3's serialized DTypePolicy, from a config
            from ..saving.serialization_lib import dtype_name
            dtype = dtype_name(dtype)
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
        self._losses: list = []
        self.activity_regularizer = regularizers.get(activity_regularizer)
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
        return probe_output_shape(self, input_shape)

    # ---------------------------------------------------------- calling it
    def __call__(self, *args, **kwargs):
        if not args:
            raise TypeError(f"layer {self.name!r}: called without inputs")
        first = args[0]
        if len(args) == 1 and isinstance(first, Tensor) and kwargs.keys() <= {"training"}:
            # the common case, kept short: one Tensor in, nothing symbolic
            first = self._to_tensor(first)
            self._maybe_build(first.shape)
            outputs = self._call_in_context((first,), kwargs)
            if not isinstance(outputs, Tensor):
                self._check_outputs(outputs)
            if self.activity_regularizer is not None:
                self._regularize_activity(outputs)
            return outputs
        if keras_tensors((args, kwargs)):
            return self._symbolic_call(args, kwargs)
        first = tree.map_structure(self._to_tensor, first) if _holds_arrays(first) else \
            self._to_tensor(first)
        args = (first,) + tuple(
            self._to_tensor(a) if isinstance(a, np.ndarray) else a for a in args[1:])
        self._maybe_build(tree.map_structure(shape_of, first))
        outputs = self._call_in_context(args, kwargs)
        self._check_outputs(outputs)
        if self.activity_regularizer is not None:
            self._regularize_activity(outputs)
        return outputs

    def _regularize_activity(self, outputs) -> None:
        """Keras 3's activity regularization: each output's penalty divided by its batch
        size, added as a loss."""
        for out in tree.flatten(outputs):
            if isinstance(out, Tensor):
                loss = self.activity_regularizer(out)
                self.add_loss(loss * (1.0 / out.shape[0]) if out.ndim and out.shape[0] else loss)

    def _call_in_context(self, args: tuple, kwargs: dict):
        """self.call(...) with `training` resolved as Keras does: the explicit value,
        else the outer call's, else the call signature's default."""
        outermost = not hasattr(_context, "training")
        if outermost:  # a new top-level call: the losses of the last one go
            self._clear_losses()
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
            lambda x: x.shape if isinstance(x, KerasTensor) else shape_of(x), first)
        self._maybe_build(shapes)
        rest = (args[1:], {k: v for k, v in kwargs.items() if k != "training"})
        if type(self).compute_output_shape is Layer.compute_output_shape and keras_tensors(rest):
            # more than one symbolic argument (layer(targets, logits)): probe with all
            out_shapes = probe_output_shape(self, shapes, *rest)
        else:
            out_shapes = self.compute_output_shape(shapes)
        dtype = self.dtype

        def make(shape):
            return KerasTensor(shape, dtype)
        outputs = map_shapes(make, out_shapes)
        Node(self, args, kwargs, outputs)
        return outputs

    def _maybe_build(self, shapes) -> None:
        """Build on first use; afterwards check the input against what was built."""
        single = is_shape(shapes)
        if single:
            shapes = tuple(shapes)
            self._check_rank(shapes)
        if self.built:
            if single:
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
        if self._input_spec is None and is_shape(input_shape) and len(input_shape):
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
                    f"with shape {fmt(shape)} (the layer was built for input shape "
                    f"{fmt(tuple(self._build_input_shape))})")

    def _check_rank(self, shape: tuple) -> None:
        if self.input_ndim is not None and len(shape) != self.input_ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected ndim={self.input_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {fmt(shape)}")
        if len(shape) < self.min_ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected min_ndim={self.min_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {fmt(shape)}")

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
        """Keras 3's base layer config: name, trainable, the dtype as a DTypePolicy."""
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": {"module": "keras", "class_name": "DTypePolicy",
                            "config": {"name": self.dtype}, "registered_name": None}}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    def get_build_config(self) -> dict | None:
        """Keras 3's record of the build: {"input_shape": ...} once built."""
        if not self.built or self._build_input_shape is None:
            return None
        return {"input_shape": self._build_input_shape}

    def build_from_config(self, config: dict) -> None:
        """Build as `get_build_config()` recorded (Keras's `shapes_dict` too)."""
        from ..saving.serialization_lib import as_shape
        if config.get("input_shape") is not None:
            self.build(as_shape(config["input_shape"]))
        elif config.get("shapes_dict"):
            # in the call's order (query_shape, value_shape, ...): build's own wrapper
            # takes the first one positionally
            self.build(*[as_shape(v) for v in config["shapes_dict"].values()])

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """The layer a get_config() describes, minigrad's or Keras 3's (keys for
        features minigrad lacks are dropped when off, refused by name when on)."""
        from ..saving.serialization_lib import fit_config
        return cls(**fit_config(cls, config))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


def _holds_arrays(x) -> bool:
    """A list/tuple/dict of arrays or Tensors (several inputs), as opposed to nested
    lists of numbers (one array written as lists)."""
    return tree.is_nested(x) and any(
        x is None or isinstance(x, (np.ndarray, Tensor, KerasTensor)) or hasattr(x, "shape")
        for x in tree.flatten(x))

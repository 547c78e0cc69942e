"""The Layer base class: Keras's build/call split, weights as Tensors."""
from __future__ import annotations

import collections
import inspect
import re

import numpy as np

from .. import initializers
from ..backends import get_backend
from ..tensor import Tensor, no_grad

_name_counts: collections.Counter = collections.Counter()
LAYER_CLASSES: dict = {}  # class name -> class, for load_model


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])([A-Z])", r"_\1", name).lower()


def check_shape(shape, arg: str, owner: str) -> tuple:
    """A shape without the batch axis: a tuple of positive ints."""
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"{owner}: `{arg}` must be a tuple of positive ints (without the batch "
                         f"axis), got {shape!r}")
    return tuple(int(s) for s in shape)


class Layer:
    """Base of every layer; subclass with `build(input_shape)` and `call(inputs)`.

    `build` creates weights with `add_weight` once the input shape is known;
    `call` computes the output from Tensors, and autograd does the backward.
    Layers take `training=` when called (only Dropout-like layers use it).
    """

    input_ndim: int | None = None   # exact rank expected, batch included
    min_ndim: int = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_CLASSES[cls.__name__] = cls

    def __init__(self, name: str | None = None, trainable: bool = True, dtype="float32",
                 input_shape=None, **kwargs):
        owner = type(self).__name__
        if kwargs:
            raise TypeError(f"{owner}: unexpected keyword argument(s) {sorted(kwargs)}")
        base = _snake(owner)
        if name is None:
            count = _name_counts[base]
            name = base if count == 0 else f"{base}_{count}"
        elif not isinstance(name, str) or not name:
            raise TypeError(f"{owner}: `name` must be a non-empty string, got {name!r}")
        _name_counts[base] += 1
        self.name = name
        self.trainable = bool(trainable)
        try:
            self.dtype = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"{owner} {name!r}: unknown dtype {dtype!r}") from None
        if self.dtype not in ("float32", "float64"):
            raise TypeError(f"{owner} {name!r}: dtype must be float32 or float64, got {dtype!r}")
        self.input_shape_arg = None if input_shape is None else \
            check_shape(input_shape, "input_shape", f"{owner} {name!r}")
        self.built = False
        self.device = "cpu"
        self._weights: list = []
        self._input_spec: tuple | None = None   # (rank, {axis: size}) fixed at build
        self._takes_training = "training" in inspect.signature(self.call).parameters

    # ------------------------------------------------------------- contract
    def build(self, input_shape: tuple) -> None:
        """Create weights for `input_shape` (batch axis included, may be None)."""

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        return inputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Output shape for `input_shape`; by default found by running on zeros."""
        dummy = np.zeros((1,) + tuple(input_shape[1:]), self.dtype)
        with no_grad():
            out = self(dummy)
        return (input_shape[0],) + out.shape[1:]

    # ------------------------------------------------------------ machinery
    def __call__(self, inputs, training: bool = False) -> Tensor:
        x = inputs if isinstance(inputs, Tensor) else self._to_tensor(inputs)
        self.ensure_built(x.shape)
        return self.call(x, training=training) if self._takes_training else self.call(x)

    def _to_tensor(self, inputs) -> Tensor:
        arr = np.asarray(inputs)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"layer {self.name!r}: expected a numeric array or Tensor, got "
                            f"{type(inputs).__name__} of dtype {arr.dtype}")
        return Tensor(arr.astype(self.dtype, copy=False), device=self.device)

    def ensure_built(self, shape: tuple) -> None:
        """Build on first use; afterwards check the input against what was built."""
        shape = tuple(shape)
        self._check_rank(shape)
        if not self.built:
            self.build(shape)
            self.built = True
            if self._input_spec is None:
                self._input_spec = (len(shape), {-1: shape[-1]} if self._weights else {})
            return
        rank, axes = self._input_spec
        for axis, size in axes.items():
            if shape[axis] != size:
                raise ValueError(
                    f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                    f"axis {axis} of input shape to have value {size}, but received input "
                    f"with shape {_fmt(shape)}")

    def _check_rank(self, shape: tuple) -> None:
        if self.input_ndim is not None and len(shape) != self.input_ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected ndim={self.input_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {_fmt(shape)}")
        if len(shape) < self.min_ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected min_ndim={self.min_ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {_fmt(shape)}")

    def add_weight(self, name: str, shape: tuple, initializer="glorot_uniform",
                   trainable: bool = True, dtype=None) -> Tensor:
        """Create a weight Tensor, keep track of it, and return it."""
        init = initializers.get(initializer, f"layer {self.name!r} weight {name!r}")
        value = init(tuple(shape), dtype or self.dtype)
        w = Tensor(value, requires_grad=trainable, device=self.device)
        w.name, w.trainable = f"{self.name}/{name}", trainable
        self._weights.append(w)
        return w

    # --------------------------------------------------------------- weights
    @property
    def weights(self) -> list:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list:
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        return [w for w in self._weights if not (w.trainable and self.trainable)]

    def count_params(self) -> int:
        return int(sum(w.size for w in self._weights))

    def get_weights(self) -> list:
        """NumPy copies of the weights, in creation order (Keras's order)."""
        return [w.numpy().copy() for w in self._weights]

    def set_weights(self, weights) -> None:
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"layer {self.name!r}: set_weights expects a list of arrays, got "
                            f"{type(weights).__name__}")
        if len(weights) != len(self._weights):
            raise ValueError(f"layer {self.name!r}: set_weights expected {len(self._weights)} "
                             f"arrays, got {len(weights)}")
        arrays = []
        for w, new in zip(self._weights, weights):
            new = np.asarray(new)
            if not (np.issubdtype(new.dtype, np.floating) or np.issubdtype(new.dtype, np.integer)):
                raise TypeError(f"layer {self.name!r}: weight {w.name!r} must be numeric, got "
                                f"dtype {new.dtype}")
            if new.shape != w.shape:
                raise ValueError(f"layer {self.name!r}: weight {w.name!r} has shape {w.shape}, "
                                 f"got an array of shape {new.shape}")
            arrays.append(new)
        backend = get_backend(self.device)
        for w, new in zip(self._weights, arrays):
            w.data = backend.asarray(new, dtype=w.dtype)

    def to(self, device: str) -> "Layer":
        """Move this layer's weights to `device` ('cpu' or 'cuda') in place."""
        backend = get_backend(device)
        for w in self._weights:
            w.data, w.device = backend.asarray(w.numpy()), backend.name
        self.device = backend.name
        return self

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.input_shape_arg is not None:
            config["input_shape"] = list(self.input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"

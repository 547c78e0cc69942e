"""`Input()`: the symbolic entry point of a functional model, and its InputLayer."""
from __future__ import annotations

import numpy as np

from .base import Layer
from .shapes import check_shape
from .node import KerasTensor, Node


class InputLayer(Layer):
    """Holds the symbolic input tensor of a model; `Input(...)` returns its output."""

    def __init__(self, shape=None, batch_size: int | None = None, dtype=None,
                 batch_shape=None, name: str | None = None, sparse=None, optional=False,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        owner = f"InputLayer {self.name!r}"
        if isinstance(dtype, dict):  # Keras 3's serialized DTypePolicy
            from ..saving.serialization_lib import dtype_name
            dtype = dtype_name(dtype)
        try:  # the data's dtype: integer inputs (token ids) are allowed here
            self.dtype = np.dtype("float32" if dtype is None else dtype).name
        except TypeError:
            raise TypeError(f"{owner}: unknown dtype {dtype!r}") from None
        if self.dtype not in ("float32", "float64", "int32", "int64", "bool"):
            raise TypeError(f"{owner}: dtype must be float32, float64, int32, int64 or bool, "
                            f"got {dtype!r}")
        if sparse:
            raise ValueError(f"{owner}: sparse inputs are not supported")
        if optional:
            raise ValueError(f"{owner}: optional inputs are not supported")
        if shape is not None and batch_shape is not None:
            raise ValueError(f"{owner}: give `shape` or `batch_shape`, not both")
        if batch_shape is not None:
            if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
                raise ValueError(f"{owner}: `batch_shape` must be a tuple such as (None, 28, 28, "
                                 f"1), got {batch_shape!r}")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        elif shape is None:
            raise ValueError(f"{owner}: `shape` is required, e.g. Input(shape=(28, 28, 1))")
        shape = check_shape(shape, "shape", owner, allow_none=True)
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
                batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"{owner}: `batch_size` must be None or a positive int, got "
                             f"{batch_size!r}")
        self.batch_shape = (None if batch_size is None else int(batch_size),) + shape
        self._dtype_given = dtype is not None
        self._input_tensor = KerasTensor(self.batch_shape, self.dtype, name=self.name)
        Node(self, outputs=self._input_tensor)
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def __call__(self, *args, **kwargs):
        raise TypeError(f"InputLayer {self.name!r} is not called: use its output "
                        f"(Input(...) returns it) as a model input")

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size: int | None = None, dtype=None, sparse=None,
          batch_shape=None, name: str | None = None, tensor=None, optional: bool = False
          ) -> KerasTensor:
    """A symbolic input of `shape` (without the batch axis) for a functional model:
    `inputs = mg.Input(shape=(28, 28, 1))`. As the first element of a Sequential,
    it fixes the model's input shape."""
    if tensor is not None:
        raise ValueError("Input: `tensor` is not supported (minigrad has no symbolic "
                         "backend tensors to wrap)")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype,
                       batch_shape=batch_shape, name=name, sparse=sparse, optional=optional)
    return layer.output

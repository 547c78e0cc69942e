"""Variable: a Tensor that holds state (Keras's `keras.Variable`).

Layer weights and metric accumulators are Variables: Tensors (they take part
in ops and autograd like any leaf) that can also be overwritten in place of
their value with `assign`, `assign_add` and `assign_sub`, as in Keras.
"""
from __future__ import annotations

import numpy as np

from .backends import get_backend
from .tensor import Tensor, _float_dtype


class Variable(Tensor):
    """A named, stateful Tensor. `initializer` is an array-like value or a callable
    `initializer(shape, dtype)` (an Initializer, or its name: 'zeros', 'glorot_uniform'...).
    """

    def __init__(self, initializer=None, shape=None, dtype=None, trainable: bool = True,
                 name: str | None = None, device: str | None = None):
        if initializer is None:
            raise ValueError("Variable: `initializer` is required (a value, or a callable "
                             "such as 'zeros' with `shape`)")
        if isinstance(initializer, str) or (callable(initializer) and
                                            not isinstance(initializer, Tensor)):
            from . import initializers  # initializers draw from minigrad's generator
            if shape is None:
                raise ValueError(f"Variable {name!r}: a callable initializer needs `shape`")
            shape = _shape(shape, name)
            dtype = _float_dtype(dtype or "float32", f"Variable {name!r}: `dtype`")
            value = initializers.get(initializer, f"Variable {name!r}")(shape, dtype)
        else:
            value = initializer.numpy() if isinstance(initializer, Tensor) else \
                np.asarray(initializer)
            if shape is not None and tuple(value.shape) != _shape(shape, name):
                raise ValueError(f"Variable {name!r}: initial value has shape "
                                 f"{tuple(value.shape)}, `shape` says {_shape(shape, name)}")
            dtype = _float_dtype(dtype or (value.dtype if value.dtype.kind == "f"
                                           else "float32"), f"Variable {name!r}: `dtype`")
        super().__init__(np.asarray(value, dtype), requires_grad=bool(trainable),
                         device=device, dtype=dtype)
        self.trainable = bool(trainable)
        self.name = name or "variable"

    @property
    def path(self) -> str:
        return self.name

    @property
    def value(self) -> Tensor:
        """The current value, as a Tensor that shares this variable's data."""
        return Tensor._wrap(self.data, self.device)

    def assign(self, value) -> "Variable":
        """Overwrite the value; `value` must have this variable's shape (a scalar
        is broadcast, as Keras allows for `assign(0)`)."""
        self.data = self._value_array(value, "assign")
        return self

    def assign_add(self, value) -> "Variable":
        backend = get_backend(self.device)
        self.data = backend.asarray(backend.add(self.data, self._value_array(value, "assign_add")),
                                    dtype=self.dtype)
        return self

    def assign_sub(self, value) -> "Variable":
        backend = get_backend(self.device)
        self.data = backend.asarray(
            backend.subtract(self.data, self._value_array(value, "assign_sub")),
            dtype=self.dtype)
        return self

    def _value_array(self, value, method: str):
        """`value` as a backend array of this variable's shape, dtype and device."""
        backend = get_backend(self.device)
        if isinstance(value, Tensor):
            data = value.data if value.device == self.device else \
                backend.asarray(value.numpy())
        else:
            data = np.asarray(value)
            if data.dtype.kind not in "biuf":
                raise TypeError(f"Variable {self.name!r}.{method}: expected a number or a "
                                f"numeric array, got {type(value).__name__} of dtype "
                                f"{data.dtype}")
            if data.ndim == 0:
                data = np.full(self.shape, data, self.dtype)
        if tuple(data.shape) != self.shape:
            raise ValueError(f"The shape of the target variable and the shape of the target "
                             f"value in `variable.{method}(value)` must match. "
                             f"variable.shape={self.shape}, Received: "
                             f"value.shape={tuple(data.shape)}. Target variable: {self.name!r}")
        return backend.asarray(data, dtype=self.dtype)

    def __repr__(self) -> str:
        return (f"<Variable path={self.name}, shape={self.shape}, dtype={self.dtype.name}, "
                f"value={self.numpy()!r}>")


def _shape(shape, name) -> tuple:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        dims = None
    if dims is None or any(d < 0 for d in dims) or any(isinstance(s, bool) for s in shape):
        raise ValueError(f"Variable {name!r}: `shape` must be a tuple of non-negative ints, "
                         f"got {shape!r}")
    return dims

"""The Metric base class (Keras 3's `keras.metrics.Metric`): state in Variables,
`update_state` / `result` / `reset_state`."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from ..utils.naming import auto_name
from ..variables import Variable


class Metric:
    """A running result over batches.

    Subclass it: make the state in `__init__` with `self.add_weight(...)` (or
    `add_variable`), accumulate in `update_state(y_true, y_pred,
    sample_weight=None)` with `variable.assign_add(...)`, and compute the
    value in `result()`. `reset_state()` sets every variable back to zero
    (fit calls it at each epoch start). Calling a metric updates it and
    returns its result. The state lives on the host (a metric's variables
    are small; only the counts cross from a GPU).
    """

    def __init__(self, dtype=None, name: str | None = None):
        self.name = name or auto_name(type(self).__name__)
        dtype = np.dtype(dtype or "float32")
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"{self.name}: `dtype` must be float32 or float64, got {dtype}")
        self._dtype = dtype.name
        self._variables: list = []
        self._metrics: list = []

    @property
    def dtype(self) -> str:
        return self._dtype

    def __setattr__(self, name, value):
        if isinstance(value, Metric) and "_metrics" in self.__dict__ and \
                value not in self._metrics:
            self._metrics.append(value)  # a metric inside a metric: its state is ours
        super().__setattr__(name, value)

    def _check_super_called(self) -> None:
        if "_variables" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: you forgot to call "
                               f"`super().__init__()` in the `__init__()` method. Go add it!")

    # ------------------------------------------------------------- state
    def add_variable(self, shape, initializer, dtype=None, aggregation: str = "sum",
                     name: str | None = None) -> Variable:
        """A state Variable (never trained), tracked in `variables`."""
        self._check_super_called()
        variable = Variable(initializer if initializer is not None else "zeros", shape=shape,
                            dtype=dtype or self.dtype, trainable=False,
                            name=f"{self.name}/{name or 'variable'}", device="cpu")
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name: str | None = None
                   ) -> Variable:
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list:
        out = list(self._variables)
        for metric in self._metrics:
            out.extend(metric.variables)
        return out

    def reset_state(self) -> None:
        for v in self.variables:
            v.assign(0)

    # ---------------------------------------------------------- contract
    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def __call__(self, *args, **kwargs):
        self._check_super_called()
        self.update_state(*args, **kwargs)
        return self.result()

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def host(value, dtype=np.float64) -> np.ndarray:
    """A Tensor, device array, list or number as a NumPy array on the host."""
    if isinstance(value, Tensor):
        return value.numpy().astype(dtype, copy=False)
    if hasattr(value, "copy_to_host"):  # a CUDA device array
        return np.asarray(value.copy_to_host(), dtype)
    return np.asarray(value, dtype)


def to_float(value) -> float:
    """A metric result (Tensor, Variable, NumPy or Python number) as a Python float."""
    return float(host(value).reshape(()))

"""Weight regularizers with Keras 3's names, defaults and formulas.

A regularizer is a callable on a weight Tensor returning a scalar Tensor
penalty, which training adds to the loss (`kernel_regularizer=`,
`bias_regularizer=`, `activity_regularizer=` of a layer, or
`add_weight(regularizer=...)`); autograd carries its gradient.
"""
from __future__ import annotations

import math
import numbers

from .tensor import Tensor
from .utils.naming import to_snake_case
from .utils.serialization import Registry


def validate_float_arg(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float."
                         f"Received: {name}={value!r}")
    return float(value)


def _abs_sum(x: Tensor) -> Tensor:
    return (x.relu() + (-x).relu()).sum()  # sum |x|; the gradient is sign(x), 0 at 0


class Regularizer:
    """Base: `regularizer(weight)` -> a scalar Tensor; `get_config` for saving."""

    def __call__(self, x: Tensor) -> Tensor:
        return 0.0

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = validate_float_arg(l1, "l1")
        self.l2 = validate_float_arg(l2, "l2")

    def __call__(self, x: Tensor) -> Tensor:
        penalty = (x * 0.0).sum()  # a zero on x's graph, device and dtype
        if self.l1:
            penalty = penalty + self.l1 * _abs_sum(x)
        if self.l2:
            penalty = penalty + self.l2 * (x * x).sum()
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """l1 * sum(|x|)."""

    def __init__(self, l1: float = 0.01):
        self.l1 = validate_float_arg(l1, "l1")

    def __call__(self, x: Tensor) -> Tensor:
        return self.l1 * _abs_sum(x)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x^2)."""

    def __init__(self, l2: float = 0.01):
        self.l2 = validate_float_arg(l2, "l2")

    def __call__(self, x: Tensor) -> Tensor:
        return self.l2 * (x * x).sum()

    def get_config(self):
        return {"l2": self.l2}


# Keras's function-style aliases
l1, l2, l1_l2 = L1, L2, L1L2

ALL_OBJECTS = (Regularizer, L1, L2, L1L2)
ALL_OBJECTS_DICT = {**{c.__name__: c for c in ALL_OBJECTS},
                    **{to_snake_case(c.__name__): c for c in ALL_OBJECTS},
                    "l1_l2": L1L2}  # the name Keras's docstring uses ('l1l2' is its key)


_REGISTRY = Registry("regularizer", ALL_OBJECTS_DICT, Regularizer,
                     "a Regularizer or a callable weight -> scalar Tensor")
serialize, deserialize, get = _REGISTRY.serialize, _REGISTRY.deserialize, _REGISTRY.get

"""Weight initializers with Keras's names and formulas (fans of (KH,KW,C,F) kernels)."""
from __future__ import annotations

import numpy as np

from . import random


def _fans(shape: tuple) -> tuple:
    if len(shape) < 2:
        return (shape[0] if shape else 1,) * 2
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape: tuple, dtype="float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype)


class Constant(Initializer):
    """A fixed value: a scalar, or an array of exactly the weight's shape."""

    def __init__(self, value=0.0):
        self.value = np.asarray(value)

    def __call__(self, shape, dtype="float32"):
        if self.value.ndim == 0:
            return np.full(shape, self.value, dtype)
        if self.value.shape != tuple(shape):
            raise ValueError(f"Constant initializer: value has shape {self.value.shape}, "
                             f"but the weight needs {tuple(shape)}")
        return self.value.astype(dtype, copy=True)

    def get_config(self):
        return {"value": self.value.tolist()}


class GlorotUniform(Initializer):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = _fans(tuple(shape))
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return random.generator().uniform(-limit, limit, shape).astype(dtype)


class HeNormal(Initializer):
    """Truncated normal (within 2 std), std = sqrt(2 / fan_in), as Keras."""

    def __call__(self, shape, dtype="float32"):
        fan_in, _ = _fans(tuple(shape))
        # Keras divides by .87962566 so the truncated distribution keeps the std
        std = np.sqrt(2.0 / fan_in) / 0.87962566103423978
        rng = random.generator()
        out = rng.standard_normal(shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * std).astype(dtype)


ALIASES = {"zeros": Zeros, "ones": Ones, "constant": Constant,
           "glorot_uniform": GlorotUniform, "he_normal": HeNormal}


def get(identifier, owner: str = "initializer") -> Initializer:
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ALIASES:
        return ALIASES[identifier.lower()]()
    if isinstance(identifier, dict):  # from a saved config
        cls = {c.__name__: c for c in ALIASES.values()}.get(identifier.get("class_name"))
        if cls is not None:
            return cls(**identifier.get("config", {}))
    raise ValueError(f"{owner}: unknown initializer {identifier!r}; expected one of "
                     f"{sorted(ALIASES)} or an Initializer")


def serialize(init: Initializer) -> dict:
    return {"class_name": type(init).__name__, "config": init.get_config()}

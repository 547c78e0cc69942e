"""Weight initializers with Keras 3's names, defaults and formulas.

Fans of a (kh, kw, in, out) kernel are in*kh*kw and out*kh*kw (Keras's
compute_fans). Random initializers draw from minigrad's seeded generator
(`mg.random.seed`), or, given `seed=<int>`, from their own generator started
from that seed at each call, so a seeded initializer gives the same values
every time (as Keras's do).
"""
from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from . import random


def compute_fans(shape: tuple, input_axes=None, output_axes=None) -> tuple:
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (int(np.prod([shape[a] for a in input_axes])),
                int(np.prod([shape[a] for a in output_axes])))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base: `init(shape, dtype)` -> a NumPy array."""

    def __call__(self, shape: tuple, dtype="float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)


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


class Identity(Initializer):
    """gain * the identity matrix (2-D weights only)."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer: the weight must be 2-D, got shape "
                             f"{tuple(shape)}")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or
                                 not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"`seed` argument should be a non-negative integer. "
                             f"Received: seed={seed!r}")
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return random.generator() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape) -> np.ndarray:
    """Standard normal values, each redrawn until within 2 standard deviations."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        return (self.mean + self.stddev * self._rng().standard_normal(shape)).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal values redrawn until within 2 stddev of the mean."""

    def __call__(self, shape, dtype="float32"):
        return (self.mean + self.stddev * _truncated_normal(self._rng(), shape)).astype(dtype)


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(RandomInitializer):
    """scale / fan (fan_in, fan_out or their mean) as the variance of a truncated
    normal (stddev corrected by 0.8796...), an untruncated normal, or a uniform
    distribution (limit sqrt(3 * variance))."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        if not isinstance(scale, numbers.Real) or scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: "
                             f"scale={scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` argument: {mode!r}. Please use one of "
                             f"['fan_avg', 'fan_in', 'fan_out']")
        distribution = str(distribution).lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"Invalid `distribution` argument: {distribution!r}. Please use "
                             f"one of ['truncated_normal', 'uniform', 'untruncated_normal']")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def _variance(self, shape) -> float:
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        return self.scale / max(1.0, fan[self.mode])

    def __call__(self, shape, dtype="float32"):
        variance, rng = self._variance(tuple(shape)), self._rng()
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / 0.87962566103423978  # keeps the variance
            return (_truncated_normal(rng, shape) * stddev).astype(dtype)
        if self.distribution == "untruncated_normal":
            return (rng.standard_normal(shape) * math.sqrt(variance)).astype(dtype)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


def _preset(name: str, scale: float, mode: str, distribution: str, doc: str) -> type:
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes,
                                 output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes,
                "output_axes": self.output_axes}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Truncated normal, variance 2 / (fan_in + fan_out).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "Truncated normal, variance 1 / fan_in.")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform",
                       "U(-limit, limit), limit = sqrt(3 / fan_in).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal",
                   "Truncated normal, variance 2 / fan_in.")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform",
                    "U(-limit, limit), limit = sqrt(6 / fan_in).")
_GlorotUniformBase = _preset("GlorotUniform", 1.0, "fan_avg", "uniform", "")


class GlorotUniform(_GlorotUniformBase):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)) (Keras's default kernel
    initializer; computed in this form, the one minigrad always used, so that seeded
    runs repeat bit for bit)."""

    def __call__(self, shape, dtype="float32"):
        if self.input_axes is not None:
            return super().__call__(shape, dtype)
        fan_in, fan_out = compute_fans(tuple(shape))
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return self._rng().uniform(-limit, limit, shape).astype(dtype)


class Orthogonal(RandomInitializer):
    """gain * an orthogonal matrix: the Q of a normal matrix's QR, signs fixed by R's
    diagonal, reshaped to the weight (rows = all axes but the last)."""

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


_CLASSES = [Zeros, Ones, Constant, Identity, RandomNormal, TruncatedNormal, RandomUniform,
            VarianceScaling, GlorotUniform, GlorotNormal, LecunUniform, LecunNormal, HeUniform,
            HeNormal, Orthogonal]
ALIASES = {"zeros": Zeros, "ones": Ones, "constant": Constant, "identity": Identity,
           "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
           "random_uniform": RandomUniform, "variance_scaling": VarianceScaling,
           "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
           "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
           "he_uniform": HeUniform, "he_normal": HeNormal, "orthogonal": Orthogonal,
           "uniform": RandomUniform, "normal": RandomNormal}
ALL_OBJECTS_DICT = {**{c.__name__: c for c in _CLASSES}, **ALIASES,
                    "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity}


def get(identifier, owner: str = "initializer"):
    """An initializer from a name ('he_normal', 'HeNormal'), a config dict, an
    Initializer, or any callable `fn(shape, dtype)`."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = ALL_OBJECTS_DICT.get(identifier) or ALIASES.get(identifier.lower())
        if cls is not None:
            return cls()
    elif isinstance(identifier, dict):  # from a saved config (minigrad's or Keras's)
        from .saving.serialization_lib import deserialize_keras_object
        return deserialize_keras_object(identifier, module_objects=ALL_OBJECTS_DICT)
    elif inspect.isclass(identifier) and issubclass(identifier, Initializer):
        return identifier()
    elif callable(identifier):
        return identifier
    raise ValueError(f"{owner}: unknown initializer {identifier!r}; expected one of "
                     f"{sorted(ALIASES)}, an Initializer or a callable fn(shape, dtype)")


def serialize(init) -> dict:
    if not isinstance(init, Initializer):
        raise ValueError(f"initializers.serialize: {init!r} is not an Initializer (a plain "
                         f"function cannot be saved; subclass Initializer with get_config)")
    from .saving.serialization_lib import serialize_keras_object
    return serialize_keras_object(init)  # Keras 3's {module, class_name, config, ...}


def deserialize(config, custom_objects: dict | None = None) -> Initializer:
    if isinstance(config, dict) and custom_objects:
        from .saving.serialization_lib import deserialize_keras_object
        return deserialize_keras_object(config, custom_objects, module_objects=ALL_OBJECTS_DICT)
    return get(config, "initializers.deserialize")

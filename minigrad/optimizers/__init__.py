"""Optimizers with Keras's names, defaults and update rules; the updates are kernels."""
from __future__ import annotations

import math
import numbers
import weakref

import numpy as np

from ..backends import get_backend


def _check(value, arg: str, owner: str, low: float = 0.0, high: float = math.inf,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite number in the range that trains (infinities never do)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or not (low < value if low_open else low <= value) or \
            not (value < high if high_open else value <= high):
        raise ValueError(f"{owner}: `{arg}` must be a finite number in "
                         f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}, "
                         f"got {value!r}")
    return float(value)


class Optimizer:
    """Keeps one state slot set per weight, in the order the weights are given.

    As in Keras, an optimizer belongs to the weights it was built for: given
    other weights (another model's, even of the same count) it raises
    ValueError; use a new optimizer instance per model.
    """

    slot_names: tuple = ()

    def __init__(self, learning_rate: float):
        self.learning_rate = _check(learning_rate, "learning_rate", type(self).__name__,
                                    low_open=True)
        self.iterations = 0
        self._slots: list | None = None
        self._owners: list = []  # weak references to the weights the slots belong to
        self._device = "cpu"

    def build(self, weights: list) -> None:
        """Make the state slots for `weights` (zeros), if not made yet. `fit` calls
        it before the first step, so that no step allocates state (Keras's `build`)."""
        if self._slots is None:
            self._device = weights[0].device if weights else "cpu"
            self._slots = [{n: get_backend(w.device).zeros(w.shape, w.dtype)
                            for n in self.slot_names} for w in weights]
            self._owners = [weakref.ref(w) for w in weights]
        else:
            self._check_known(weights)

    def _check_known(self, weights: list) -> None:
        """The slots must be those of exactly these weights (shape, dtype, identity):
        a kernel writing a slot of another shape would write out of bounds."""
        name = type(self).__name__
        if len(self._slots) != len(weights):
            raise ValueError(f"{name}: built for {len(self._slots)} weights, given "
                             f"{len(weights)}; use a new optimizer for another model")
        for i, (w, slots, owner) in enumerate(zip(weights, self._slots, self._owners)):
            for n, slot in slots.items():
                if tuple(slot.shape) != w.shape or slot.dtype != w.dtype:
                    raise ValueError(f"{name}: slot {n!r} of weight {i} has shape "
                                     f"{tuple(slot.shape)} and dtype {slot.dtype}, the weight "
                                     f"{w.shape} and {w.dtype}; use a new optimizer for "
                                     f"another model")
            if owner() is not w:
                raise ValueError(f"{name}: unknown weight {i} (shape {w.shape}): this "
                                 f"optimizer can only be used for the weights it was built "
                                 f"with; create a new optimizer instance for another model")

    def apply_gradients(self, weights: list) -> None:
        """One update of every weight from its `.grad` (weights without one are skipped)."""
        self.build(weights)
        self.iterations += 1
        for w, slots in zip(weights, self._slots):
            if w.grad is not None:
                self._update(get_backend(w.device), w.data, w.grad.data, slots)

    def _update(self, backend, p, g, slots: dict) -> None:
        raise NotImplementedError

    # state, for checkpoints: the slot arrays and the step count
    def get_state(self) -> tuple:
        backend = get_backend(self._device)
        slots = [] if self._slots is None else [
            backend.to_numpy(s[n]) for s in self._slots for n in self.slot_names]
        return self.iterations, slots

    def set_state(self, iterations: int, slots: list, weights: list) -> None:
        """Restore `get_state()`'s result for `weights`; the slot arrays are checked
        against the weights (count and shapes) before anything changes."""
        name = type(self).__name__
        if slots and len(slots) != len(weights) * len(self.slot_names):
            raise ValueError(f"{name}: expected {len(weights) * len(self.slot_names)} slot "
                             f"arrays ({len(self.slot_names)} per weight), got {len(slots)}")
        for k, a in enumerate(slots):
            w = weights[k // len(self.slot_names)]
            if tuple(np.shape(a)) != w.shape:
                raise ValueError(f"{name}: slot array {k} has shape {tuple(np.shape(a))}, "
                                 f"its weight {w.shape}")
        self.iterations = int(iterations)
        if not slots:  # no step taken yet: no state
            self._slots, self._owners = None, []
            return
        self._device = weights[0].device
        it = iter(slots)
        self._slots = [{n: get_backend(w.device).asarray(next(it), dtype=w.dtype)
                        for n in self.slot_names} for w in weights]
        self._owners = [weakref.ref(w) for w in weights]

    def to(self, device: str) -> None:
        if self._slots is not None:
            old, new = get_backend(self._device), get_backend(device)
            self._slots = [{n: new.asarray(old.to_numpy(a)) for n, a in s.items()}
                           for s in self._slots]
        self._device = get_backend(device).name

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate}


class SGD(Optimizer):
    """v = momentum*v - lr*g; w += v (nesterov: w += momentum*v - lr*g)."""

    slot_names = ("velocity",)

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = _check(momentum, "momentum", "SGD", 0.0, 1.0)  # Keras's range
        self.nesterov = bool(nesterov)

    def _update(self, backend, p, g, slots):
        backend.sgd_update(p, g, slots["velocity"], self.learning_rate, self.momentum,
                           self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras's Adam: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); w -= lr_t*m/(sqrt(v)+epsilon)."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7):
        super().__init__(learning_rate)
        # beta = 1 divides by 1 - beta^t = 0 (beta_1) or zeroes every step (beta_2)
        self.beta_1 = _check(beta_1, "beta_1", "Adam", 0.0, 1.0, high_open=True)
        self.beta_2 = _check(beta_2, "beta_2", "Adam", 0.0, 1.0, high_open=True)
        self.epsilon = _check(epsilon, "epsilon", "Adam", 0.0, low_open=True)

    def _update(self, backend, p, g, slots):
        t = self.iterations
        lr_t = self.learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        backend.adam_update(p, g, slots["m"], slots["v"], lr_t, self.beta_1, self.beta_2,
                            self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


ALIASES = {"sgd": SGD, "adam": Adam}


def get(identifier) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ALIASES:
        return ALIASES[identifier.lower()]()
    raise ValueError(f"compile: unknown optimizer {identifier!r}; expected one of "
                     f"{sorted(ALIASES)} or a minigrad.optimizers.Optimizer")
from . import schedules  # noqa: E402,F401  (keras.optimizers.schedules)

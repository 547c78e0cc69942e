"""Optimizers with Keras's names, defaults and update rules; the updates are kernels."""
from __future__ import annotations

import numbers

import numpy as np

from .backends import get_backend


def _check(value, arg: str, owner: str, low: float = 0.0, high: float = float("inf"),
           low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not (low < value if low_open else low <= value) or not value <= high:
        raise ValueError(f"{owner}: `{arg}` must be a number in "
                         f"{'(' if low_open else '['}{low}, {high}], got {value!r}")
    return float(value)


class Optimizer:
    """Keeps one state slot set per weight, in the order the weights are given."""

    slot_names: tuple = ()

    def __init__(self, learning_rate: float):
        self.learning_rate = _check(learning_rate, "learning_rate", type(self).__name__,
                                    low_open=True)
        self.iterations = 0
        self._slots: list | None = None
        self._device = "cpu"

    def build(self, weights: list) -> None:
        """Make the state slots for `weights` (zeros), if not made yet. `fit` calls
        it before the first step, so that no step allocates state (Keras's `build`)."""
        if self._slots is None:
            self._device = weights[0].device if weights else "cpu"
            self._slots = [{n: get_backend(w.device).zeros(w.shape, w.dtype)
                            for n in self.slot_names} for w in weights]
        elif len(self._slots) != len(weights):
            raise ValueError(f"{type(self).__name__}: built for {len(self._slots)} weights, "
                             f"given {len(weights)}")

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
        self.iterations = int(iterations)
        if not slots:  # no step taken yet: no state
            self._slots = None
            return
        self._device = weights[0].device
        self._slots = []
        it = iter(slots)
        for w in weights:
            backend = get_backend(w.device)
            self._slots.append({n: backend.asarray(next(it), dtype=w.dtype)
                                for n in self.slot_names})

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
        self.momentum = _check(momentum, "momentum", "SGD", 0.0, 1.0)
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
        self.beta_1 = _check(beta_1, "beta_1", "Adam", 0.0, 1.0)
        self.beta_2 = _check(beta_2, "beta_2", "Adam", 0.0, 1.0)
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

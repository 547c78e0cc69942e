"""SGD, RMSprop, Adagrad and Adadelta with Keras 3's defaults and formulas."""
from __future__ import annotations

from .base_optimizer import Optimizer, check_number


class SGD(Optimizer):
    """v = momentum v - lr g; w += v (nesterov: w += momentum v - lr g)."""

    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = check_number(momentum, "momentum", "SGD", 0.0, 1.0)  # Keras's range
        self.nesterov = bool(nesterov)

    def _keras_slot_groups(self) -> list:
        # Keras keeps no velocity without momentum (minigrad's is then rewritten each step)
        return [("velocity",)] if self.momentum else []

    def _update(self, backend, p, g, slots, lr, prep):
        backend.sgd_update(p, g, slots["velocity"], lr, self.momentum, self.nesterov, prep)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + epsilon) (centered: v - mean(g)^2
    under the root; with momentum, through a velocity). rho in [0, 1)."""

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        # rho = 1 never updates v from 0: every step is lr * g / sqrt(epsilon), and diverges
        self.rho = check_number(rho, "rho", "RMSprop", 0.0, 1.0, high_open=True)
        self.momentum = check_number(momentum, "momentum", "RMSprop", 0.0, 1.0)
        self.epsilon = check_number(epsilon, "epsilon", "RMSprop", 0.0, low_open=True)
        self.centered = bool(centered)

    @property
    def slot_names(self):
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())

    def _keras_slot_groups(self) -> list:
        return [(name,) for name in self.slot_names]  # Keras makes each list on its own

    def _update(self, backend, p, g, slots, lr, prep):
        backend.rmsprop_update(p, g, slots["velocity"], slots.get("momentum"),
                               slots.get("average_gradient"), lr, self.rho, self.momentum,
                               self.epsilon, self.centered, prep)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """acc += g^2; w -= lr g / sqrt(acc + epsilon), acc starting at
    initial_accumulator_value."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = check_number(
            initial_accumulator_value, "initial_accumulator_value", "Adagrad")
        self.epsilon = check_number(epsilon, "epsilon", "Adagrad", 0.0, low_open=True)

    def _slot_init(self, name: str) -> float:
        return self.initial_accumulator_value

    def _update(self, backend, p, g, slots, lr, prep):
        backend.adagrad_update(p, g, slots["accumulator"], lr, self.epsilon, prep)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Accumulated g^2 and update^2 (decay rho); update = -sqrt(acc_delta + eps) g /
    sqrt(acc_grad + eps); w += lr * update."""

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = check_number(rho, "rho", "Adadelta", 0.0, 1.0)
        self.epsilon = check_number(epsilon, "epsilon", "Adadelta", 0.0, low_open=True)

    def _update(self, backend, p, g, slots, lr, prep):
        backend.adadelta_update(p, g, slots["accumulated_grad"],
                                slots["accumulated_delta_var"], lr, self.rho, self.epsilon,
                                prep)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}

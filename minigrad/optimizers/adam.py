"""The Adam family with Keras 3's defaults and formulas: Adam (amsgrad), AdamW,
Adamax, Nadam."""
from __future__ import annotations

import numpy as np

from .base_optimizer import Optimizer, check_number


class _Moments(Optimizer):
    """beta_1, beta_2 in [0, 1) (1 would divide by 1 - beta^t = 0 or freeze a moment)
    and epsilon > 0, checked as every Adam-style optimizer needs them."""

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, **kwargs):
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = check_number(beta_1, "beta_1", owner, 0.0, 1.0, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", owner, 0.0, 1.0, high_open=True)
        self.epsilon = check_number(epsilon, "epsilon", owner, 0.0, low_open=True)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adam(_Moments):
    """m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon) (with `amsgrad`,
    sqrt(max of v so far))."""

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    @property
    def slot_names(self):
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _keras_slot_groups(self) -> list:
        return [("m", "v"), ("vhat",)] if self.amsgrad else [("m", "v")]

    def _update(self, backend, p, g, slots, lr, prep):
        t = self.iterations
        lr_t = lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        if self.amsgrad:
            backend.adam_amsgrad_update(p, g, slots["m"], slots["v"], slots["vhat"], lr_t,
                                        self.beta_1, self.beta_2, self.epsilon, prep)
        else:
            backend.adam_update(p, g, slots["m"], slots["v"], lr_t, self.beta_1, self.beta_2,
                                self.epsilon, prep)

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): w -= w * lr * weight_decay
    before each step."""

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)


class Adamax(_Moments):
    """m += (g - m)(1 - b1); u = max(b2 u, |g|); w -= lr m / ((1 - b1^t)(u + epsilon))."""

    slot_names = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)

    def _update(self, backend, p, g, slots, lr, prep):
        bias = 1.0 - self.beta_1 ** self.iterations
        backend.adamax_update(p, g, slots["m"], slots["u"], lr, bias, self.beta_1,
                              self.beta_2, self.epsilon, prep)


class Nadam(_Moments):
    """Adam with Nesterov momentum and Keras's momentum schedule
    u_t = b1 (1 - 0.5 * 0.96^t)."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self._u_product = 1.0

    def _u(self, step: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** step)

    def _before_updates(self) -> None:
        self._u_product *= self._u(self.iterations)  # the product of u_1 .. u_t

    def _update(self, backend, p, g, slots, lr, prep):
        t = self.iterations
        u_t, u_t_1 = self._u(t), self._u(t + 1)
        backend.nadam_update(p, g, slots["m"], slots["v"], lr, self.beta_1, self.beta_2,
                             self.epsilon, u_t, u_t_1, self._u_product,
                             self._u_product * u_t_1, self.beta_2 ** t, prep)

    def _keras_extra_variables(self) -> list:
        # Keras's Nadam keeps the schedule's product as a last variable; minigrad
        # recomputes it from the step count, so reading it back is not needed
        return [np.asarray(self._u_product, np.float32)]

    def set_state(self, iterations: int, slots: list, weights: list) -> None:
        super().set_state(iterations, slots, weights)
        self._u_product = 1.0  # the schedule's product is a function of the step count
        for step in range(1, int(iterations) + 1):
            self._u_product *= self._u(step)

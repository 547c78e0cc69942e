"""Learning-rate schedules with Keras 3's names and formulas (keras/src/optimizers/
schedules/learning_rate_schedule.py), evaluated in float64 on the host.

A schedule is called with the optimizer's step count before the update (0 for
the first step) and returns the learning rate for that step; pass one as any
optimizer's `learning_rate`. Subclass `LearningRateSchedule` with
`__call__(step)` for your own.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


class LearningRateSchedule:
    """Base: `schedule(step)` -> the learning rate (a number) for `step`."""

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  f"override `__call__(self, step)`.")

    def get_config(self) -> dict:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  f"override `get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config: dict) -> "LearningRateSchedule":
        return cls(**config)


def _positive_steps(value, owner: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{owner}: Argument `decay_steps` must be > 0. Received: "
                         f"decay_steps={value!r}")


def evaluate(schedule, step: int) -> float:
    """schedule(step) as a finite float, or a clear error naming what came back."""
    value = schedule(step)
    if hasattr(value, "numpy"):
        value = value.numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or arr.size != 1 or arr.ndim > 1:
        raise ValueError(f"learning rate schedule {type(schedule).__name__} returned "
                         f"{value!r} (shape {arr.shape}) for step {step}; expected a scalar "
                         f"number")
    value = float(arr.reshape(()))
    if not math.isfinite(value):
        raise ValueError(f"learning rate schedule {type(schedule).__name__} returned {value} "
                         f"for step {step}; expected a finite number")
    return value


class _RateDecay(LearningRateSchedule):
    """A decay by `decay_rate` over `decay_steps`, continuous or (staircase) stepwise."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str | None = None):
        _positive_steps(decay_steps, name or type(self).__name__)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase
        self.name = name or type(self).__name__

    def _progress(self, step) -> float:
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """initial_learning_rate * decay_rate ** (step / decay_steps) (the exponent
    floored with `staircase=True`)."""

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"The length of boundaries should be 1 less than the length of "
                             f"values. Received: boundaries={boundaries} of length "
                             f"{len(boundaries)}, and values={values} of length {len(values)}.")
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end; with
    `cycle=True` decay_steps grows to the first multiple above step."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle: bool = False, name: str = "PolynomialDecay"):
        _positive_steps(decay_steps, name)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power = end_learning_rate, power
        self.cycle, self.name = cycle, name

    def __call__(self, step):
        step, decay_steps = float(step), float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * \
            (1 - p) ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(_RateDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps) (the ratio floored
    with `staircase=True`)."""

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup from initial_learning_rate to warmup_target over
    warmup_steps, then cosine decay over decay_steps from the peak to peak * alpha."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name: str = "CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _positive_steps(decay_steps, name)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.alpha, self.name = alpha, name
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _decay(self, step: float, peak: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = float(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


ALL_OBJECTS_DICT = {c.__name__: c for c in (
    ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras 3's schema: {module, class_name, config, registered_name}."""
    from ..saving.serialization_lib import serialize_keras_object
    return serialize_keras_object(schedule)


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    from ..saving.object_registration import get_registered_object
    from ..saving.serialization_lib import deserialize_keras_object
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in ALL_OBJECTS_DICT and get_registered_object(
            config.get("registered_name") or name if isinstance(config, dict) else None,
            custom_objects) is None:
        raise ValueError(f"Could not interpret learning rate schedule config: {config!r}; "
                         f"known schedules: {sorted(ALL_OBJECTS_DICT)}")
    return deserialize_keras_object({"config": {}, **config}, custom_objects,
                                    module_objects=ALL_OBJECTS_DICT)

"""The Optimizer base (Keras 3's keras/src/optimizers/base_optimizer.py): learning rate
(a number or a schedule, settable during training), gradient clipping (clipnorm,
clipvalue, global_clipnorm), decoupled weight decay, and state slots that belong
to the weights they were built for. Subclasses give the update: one kernel per step
and weight (backends/contract.py), which also clips and decays (GradPrep)."""
from __future__ import annotations

import math
import numbers
import re
import weakref

import numpy as np

from ..backends import get_backend
from ..backends.contract import GradPrep
from ..utils.naming import auto_name
from . import schedules

# Keras options minigrad does not implement: accepted only at their defaults
_UNSUPPORTED = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                "loss_scale_factor": None, "gradient_accumulation_steps": None}


def check_number(value, arg: str, owner: str, low: float = 0.0, high: float = math.inf,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A finite number in the range that trains (infinities never do)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or not (low < value if low_open else low <= value) or \
            not (value < high if high_open else value <= high):
        if math.isinf(high):  # unbounded above: "in (0.0, inf]" would contradict "finite"
            want = f"{'>' if low_open else '>='} {low}"
        else:
            want = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{owner}: `{arg}` must be a finite number {want}, got {value!r}")
    return float(value)


class Optimizer:
    """Keeps one set of state slots per weight, in the order the weights are given.

    As in Keras, an optimizer belongs to the weights it was built for: given
    other weights (another model's, even of the same count) it raises
    ValueError; use a new optimizer instance per model.
    """

    #: the state kept per weight, in get_state()'s order
    slot_names: tuple = ()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name: str | None = None, **kwargs):
        owner = type(self).__name__
        unknown = sorted(set(kwargs) - set(_UNSUPPORTED))
        if unknown:
            raise TypeError(f"{owner}: unexpected keyword argument(s) {unknown}")
        changed = sorted(k for k, v in kwargs.items() if v != _UNSUPPORTED[k])
        if changed:
            raise NotImplementedError(f"{owner}: {changed} are not supported by minigrad; "
                                      f"leave them at Keras's defaults")
        self.name = name or auto_name(owner)
        self.iterations = 0
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else \
            check_number(weight_decay, "weight_decay", owner)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                             f"be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if v is None else check_number(v, arg, owner, low_open=True)
            for v, arg in ((clipnorm, "clipnorm"), (clipvalue, "clipvalue"),
                           (global_clipnorm, "global_clipnorm")))
        self._exclude_ids: set = set()
        self._exclude_pattern = None
        self._slots: list | None = None
        self._owners: list = []  # weak references to the weights the slots belong to
        self._device = "cpu"

    # ------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> float:
        """The rate of the next step: the number set, or the schedule at `iterations`."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return schedules.evaluate(lr, self.iterations)
        if callable(lr):
            return schedules.evaluate(lambda step: lr(), self.iterations)
        return lr

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        owner = type(self).__name__
        if isinstance(value, dict):  # a saved schedule's config
            value = schedules.deserialize(value)
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object "
                            "as its `learning_rate` constructor argument, hence its learning "
                            "rate is not settable. If you need the learning rate to be "
                            "settable, you should instantiate the optimizer with a float "
                            "`learning_rate` argument.")
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
        self._learning_rate = check_number(value, "learning_rate", owner, low_open=True)

    # --------------------------------------------------------------- state
    def _slot_init(self, name: str) -> float:
        """The initial value of a slot (zeros unless an optimizer says otherwise)."""
        return 0.0

    def build(self, weights: list) -> None:
        """Make the state slots for `weights`, if not made yet. `fit` calls it before
        the first step, so that no step allocates state (Keras's `build`)."""
        if self._slots is None:
            self._device = weights[0].device if weights else "cpu"
            self._slots = [{n: get_backend(w.device).full(w.shape, self._slot_init(n), w.dtype)
                            for n in self.slot_names} for w in weights]
            self._owners = [weakref.ref(w) for w in weights]
        else:
            self._check_known(weights)

    @property
    def built(self) -> bool:
        return self._slots is not None

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

    # -------------------------------------------------------------- update
    def apply_gradients(self, grads_and_vars) -> None:
        """One update of every weight. Keras's form, pairs `(gradient, weight)`, or
        minigrad's, a list of weights whose `.grad` autograd filled (weights without
        a gradient are skipped in both)."""
        items = list(grads_and_vars)
        if items and isinstance(items[0], (tuple, list)):
            grads, weights = [g for g, _ in items], [w for _, w in items]
        else:
            weights = items
            grads = [w.grad for w in weights]
        self.apply(grads, weights)

    def apply(self, grads: list, trainable_variables: list) -> None:
        """One update of `trainable_variables` from `grads` (None: no update)."""
        weights = list(trainable_variables)
        if len(grads) != len(weights):
            raise ValueError(f"{type(self).__name__}: {len(grads)} gradients for "
                             f"{len(weights)} weights")
        self.build(weights)
        grads = [None if g is None else _array(g, w) for g, w in zip(grads, weights)]
        lr = self.learning_rate  # the schedule at the step count before this update
        preps = self._preps(grads, weights, lr)
        self.iterations += 1
        self._before_updates()
        for w, g, slots, prep in zip(weights, grads, self._slots, preps):
            if g is not None:
                self._update(get_backend(w.device), w.data, g, slots, lr, prep)

    def _before_updates(self) -> None:
        """Per-step work shared by all weights (Nadam's momentum schedule)."""

    def _update(self, backend, p, g, slots: dict, lr: float, prep) -> None:
        raise NotImplementedError

    def _preps(self, grads: list, weights: list, lr: float) -> list:
        """Each weight's GradPrep: clip scale, clip value, weight decay (Keras's order:
        clip, then decay with the current learning rate, then the update)."""
        scales = [1.0] * len(grads)
        if self.clipnorm:
            scales = [1.0 if g is None else _clip_scale(_norm(g, w), self.clipnorm)
                      for g, w in zip(grads, weights)]
        elif self.global_clipnorm:
            total = math.sqrt(sum(_norm(g, w) ** 2 for g, w in zip(grads, weights)
                                  if g is not None))
            # Keras: NaN for a non-finite norm (the update then makes NaN, caught by fit)
            scale = self.global_clipnorm * min(1.0 / total if total else math.inf,
                                               1.0 / self.global_clipnorm) \
                if math.isfinite(total) else math.nan
            scales = [scale] * len(grads)
        clip = self.clipvalue or 0.0
        return [GradPrep(s, clip, lr * self.weight_decay
                         if self.weight_decay and self._decays(w) else 0.0)
                for s, w in zip(scales, weights)]

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Keep these weights (or those whose name matches one of `var_names`) out of
        weight decay; call before the first step, as in Keras."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before "
                             "the optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list or []}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _decays(self, weight) -> bool:
        if id(weight) in self._exclude_ids:
            return False
        name = getattr(weight, "name", None)
        return not (self._exclude_pattern is not None and name and
                    self._exclude_pattern.search(name))

    # ----------------------------------------------- state, for checkpoints
    def get_state(self) -> tuple:
        """(iterations, copies of the slot arrays as NumPy, weight by weight in slot_names
        order): a snapshot, which later steps leave alone."""
        backend = get_backend(self._device)
        slots = [] if self._slots is None else [
            np.array(backend.to_numpy(s[n])) for s in self._slots for n in self.slot_names]
        return self.iterations, slots

    def set_state(self, iterations: int, slots: list, weights: list) -> None:
        """Restore `get_state()`'s result for `weights`; the slot arrays are checked
        against the weights (count and shapes) before anything changes."""
        name, per = type(self).__name__, len(self.slot_names)
        if slots and len(slots) != len(weights) * per:
            raise ValueError(f"{name}: expected {len(weights) * per} slot arrays ({per} per "
                             f"weight), got {len(slots)}")
        for k, a in enumerate(slots):
            w = weights[k // per]
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

    @property
    def variables(self) -> list:
        """The state as NumPy arrays (Keras's optimizer.variables, without iterations)."""
        return self.get_state()[1]

    def _keras_slot_groups(self) -> list:
        """How Keras 3 lists this optimizer's slots (for .keras files): one group per
        `add_optimizer_variables` call, each weight by weight with the group's slots
        side by side; by default every slot in one group. A slot left out is not
        kept by Keras (it starts from its initial value)."""
        return [tuple(self.slot_names)]

    def _keras_extra_variables(self) -> list:
        """Variables Keras 3 keeps after the slots (none by default)."""
        return []

    # -------------------------------------------------------------- config
    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"name": self.name,
                "learning_rate": schedules.serialize(lr)
                if isinstance(lr, schedules.LearningRateSchedule) else lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Optimizer":
        return cls(**config)


def _array(g, w):
    """A gradient (Tensor or array) as a backend array on w's device."""
    data = getattr(g, "data", g)
    backend = get_backend(w.device)
    if tuple(np.shape(data)) != w.shape:
        raise ValueError(f"gradient of shape {tuple(np.shape(data))} for a weight of shape "
                         f"{w.shape}")
    return backend.asarray(data, dtype=w.dtype)


def _norm(g, w) -> float:
    backend = get_backend(w.device)
    return math.sqrt(float(backend.to_numpy(backend.sum(backend.multiply(g, g)))))


def _clip_scale(norm: float, clipnorm: float) -> float:
    """Keras's _clip_by_norm as a factor: clipnorm / max(norm, clipnorm) (a NaN norm
    gives NaN, an infinite one 0, as there)."""
    return clipnorm / (norm if (norm != norm or norm > clipnorm) else clipnorm)

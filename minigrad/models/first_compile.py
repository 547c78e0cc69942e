"""Compiling a model's CPU kernels before its first step, on two processes where the
Numba cache is cold (backends/cpu/compile_ahead.py): by `Model.warmup`, and by `fit`
itself before its first batch when the step runs none of the user's code.

A dry step runs the model's Python without its kernels (their outputs hold garbage),
so whatever it touches is put back afterwards: weights, optimizer state, metrics and
random state. A dry step of a model with the user's own layer, loss, metric or
activation would run that code once more than asked (prints, counters, side
effects): `fit` leaves those models alone, and `warmup`, which the user calls, runs
the dry step as documented.
"""
from __future__ import annotations

import functools
import types
import warnings

import numpy as np

from ..backends import get_backend
from ..tensor import no_grad


def restoring_steps(model, batch, evaluate: bool):
    """A function running a training step (and with `evaluate` an evaluation step) on
    `batch` that leaves weights, optimizer, metrics and random state as they were."""
    weights, opt_state, rng = model.get_weights(), model.optimizer.get_state(), \
        model._random_states()

    def steps():
        try:
            model._step(batch, training=True)
            if evaluate:
                with no_grad():
                    model._step(batch, training=False)
        finally:
            model._reset_metrics()
            model.set_weights(weights)
            model.optimizer.set_state(*opt_state, model._train_weights())
            model._set_random_states(rng)
    return steps


def compile_ahead(model, steps, for_larger_batches: bool = True) -> None:
    """Run `steps` dry, then compile the CPU kernels they noted on this process and a
    forked copy at once (`for_larger_batches`: compile_ahead.dry_run's). Where that
    cannot be done, or a dry step fails on its garbage, nothing: the real steps
    compile them."""
    from ..backends.cpu import compile_ahead as cpu
    from ..distribution import num_processes
    model._compiled_ahead = True
    if get_backend(model.device).name != "cpu" or num_processes() > 1 or \
            not cpu.usable():   # a job's processes use the cores
        return
    try:
        with cpu.dry_run(for_larger_batches) as noted, np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")   # what the dry steps' garbage makes NumPy say
            steps()
    except Exception:
        return
    cpu.compile_noted(noted)


def before_first_step(model, batch) -> None:
    """fit's first batch, before its step: compile ahead as warmup does, once per
    model, where the step runs only minigrad's code."""
    if getattr(model, "_compiled_ahead", False):
        return
    from ..backends.cpu import compile_ahead as cpu
    model._compiled_ahead = True
    if get_backend(model.device).name == "cpu" and cpu.usable() and \
            runs_only_minigrad_code(model):
        compile_ahead(model, restoring_steps(model, batch, evaluate=False),
                      for_larger_batches=False)   # the real batch: the builds it runs


def runs_only_minigrad_code(model) -> bool:
    """Whether a training step runs minigrad's code alone: every layer (and callable a
    layer holds: activations, regularizers, a Lambda's function), the loss and the
    metrics are minigrad's own or named by a string."""
    for layer in model._flatten_layers(include_self=True):
        if not _own(layer) or not all(_own(v) for v in vars(layer).values() if callable(v)):
            return False
    loss, metrics = model._compile_loss, model._compile_metrics
    return _own_spec(loss.spec if loss is not None else None) and (
        metrics is None or (_own_spec(metrics.spec) and _own_spec(metrics.weighted_spec)))


def _own_spec(spec) -> bool:
    """A compile() argument: strings, None, minigrad's objects, or lists/dicts of them."""
    if spec is None or isinstance(spec, str):
        return True
    if isinstance(spec, (list, tuple)):
        return all(_own_spec(s) for s in spec)
    if isinstance(spec, dict):
        return all(_own_spec(s) for s in spec.values())
    return _own(spec)


def _own(obj) -> bool:
    """Whether `obj` (a function, class or object) is minigrad's, with any function it
    wraps (a loss or metric around a function: `fn`, `_fn`; functools.partial)."""
    if isinstance(obj, functools.partial):
        return _own(obj.func)
    plain = isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                             type))
    module = getattr(obj, "__module__", None) if plain else type(obj).__module__
    if not (module == "minigrad" or (module or "").startswith("minigrad.")):
        return False
    inner = [getattr(obj, name) for name in ("fn", "_fn") if not plain and
             callable(getattr(obj, name, None))]
    return all(_own(f) for f in inner)

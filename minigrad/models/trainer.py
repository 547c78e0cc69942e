"""The training loop every model shares: compile, fit, evaluate, predict, warmup.

A model provides `_forward(inputs, training, logits)`, its input specs and its
output shape; the trainer does the rest: data checks (data.py), epochs and
batches, the optimizer step, metrics, callbacks (the progress bar among them,
as Keras's ProgbarLogger) and the random state a checkpoint must carry.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from .. import random, tree
from ..backends import get_backend
from ..callbacks import Callback, History, ProgbarLogger, TerminateOnNaN
from ..tensor import Tensor, no_grad
from . import data


class Trainer:
    """compile/fit/evaluate/predict for a Model (mixed into models.Model)."""

    def __init__(self):
        self.optimizer = self.loss = None
        self.metrics: list = []
        self._metric_ids: list = []
        self.stop_training = False
        self.stop_reason: str | None = None
        self.compiled = False
        self._compiled_weights = None
        self._compiled_trainable_state = None
        self._output_shapes: dict = {}

    # ------------------------------------------------------------- compile
    def compile(self, optimizer="adam", loss=None, metrics=None, device: str | None = None
                ) -> None:
        """Choose the optimizer, loss and metrics (and, optionally, the device). The
        weights that train are those trainable now (as Keras: re-compile after
        changing `trainable`)."""
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = None if loss is None else losses_mod.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: `metrics` must be a list such as ['accuracy'], got "
                            f"{metrics!r}")
        self._metric_ids = list(metrics or [])
        self.metrics = []
        if device is not None:
            self.to(device)
        self.compiled = True
        self._compiled_trainable_state = {id(layer): layer.trainable
                                          for layer in self._flatten_layers(include_self=True)}
        self._compiled_weights = self.trainable_weights if self.built else None
        if self.built:
            self._resolve_metrics()

    def _train_weights(self) -> list:
        """The weights chosen at compile (warning, as Keras, if `trainable` changed since)."""
        state = self._compiled_trainable_state or {}
        changed = [layer.name for layer in self._flatten_layers(include_self=True)
                   if id(layer) in state and state[id(layer)] != layer.trainable]
        if changed:
            warnings.warn(f"A layer's `trainable` state has changed since the model was "
                          f"compiled. Please recompile your model (e.g. `model.compile(...)`) "
                          f"before calling `fit()` so the change takes effect. Changed layers: "
                          f"{changed}", stacklevel=3)
            self._compiled_trainable_state = {id(layer): layer.trainable for layer in
                                              self._flatten_layers(include_self=True)}
        if self._compiled_weights is None:
            self._compiled_weights = self.trainable_weights
        return self._compiled_weights

    def _output_shape_for(self, input_shapes: list) -> tuple:
        key = tuple(tuple(s) for s in input_shapes)
        if key not in self._output_shapes:
            arg = input_shapes[0] if len(input_shapes) == 1 else list(input_shapes)
            self._output_shapes[key] = self.compute_output_shape(arg)
        return self._output_shapes[key]

    def _output_units(self, xs: list) -> int:
        shape = self._output_shape_for([(None,) + a.shape[1:] for a in xs])
        if not isinstance(shape, tuple):
            raise ValueError(f"model {self.name!r} has several outputs; training or "
                             f"evaluating it needs a loss per output, which compile() does "
                             f"not take yet (predict works)")
        return shape[-1]

    def _resolve_metrics(self, xs: list | None = None) -> None:
        shape = self._output_shape_for([s[0] for s in self._input_specs()]) if xs is None \
            else self._output_shape_for([(None,) + a.shape[1:] for a in xs])
        outputs = shape[-1] if isinstance(shape, tuple) else None
        self.metrics = [metrics_mod.get(m, self.loss, outputs) for m in self._metric_ids]

    def _fused_loss(self):
        """The loss to train with: fused on logits when the model ends in softmax."""
        last = self._softmax_output_layer()
        fuse = last is not None and self.loss.fuses_softmax and not self.loss.from_logits
        return type(self.loss)(from_logits=True) if fuse else None

    # ---------------------------------------------------------------- data
    def _ensure_built(self, xs: list) -> None:
        if not self.built:
            shapes = [(None,) + a.shape[1:] for a in xs]
            self.build(shapes[0] if len(shapes) == 1 else shapes)
            self.to(self.device)  # layers built during the build: onto the model's device

    def _check_xy(self, x, y, where: str) -> tuple:
        xs = data.check_x(self, x, where)
        y = data.check_y(self, y, len(xs[0]), where)
        self._ensure_built(xs)
        units = self._output_units(xs)
        if not self.metrics and self._metric_ids:
            self._resolve_metrics(xs)
        return xs, self.loss.check_targets(y, units, dtype=self._input_dtype())

    def _as_model_input(self, arrays: list):
        tensors = [Tensor(a, device=self.device) for a in arrays]
        return tensors[0] if len(tensors) == 1 else tensors

    # ------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, initial_epoch: int = 0) -> History:
        """Train for `epochs` epochs; returns a History of per-epoch logs."""
        if self.optimizer is None or self.loss is None:
            raise ValueError("fit: the model must be compiled with an optimizer and a loss "
                             "first: model.compile(optimizer='adam', loss=...)")
        xs, y = self._check_xy(x, y, "fit")
        batch_size = data.check_batch_size(batch_size)
        epochs = data.check_int(epochs, "epochs", 1)
        initial_epoch = data.check_int(initial_epoch, "initial_epoch", 0)
        verbose = data.check_verbose(verbose)
        if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: `validation_split` must be a float in [0, 1), got "
                             f"{validation_split!r}")
        n = len(y)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: `validation_data` must be a tuple (x_val, y_val)")
            xs_val, y_val = self._check_xy(*validation_data, "fit (validation_data)")
        elif validation_split:
            split = int(n * (1.0 - validation_split))  # Keras: the last part, unshuffled
            if split == 0 or split == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves no "
                                 f"{'training' if split == 0 else 'validation'} samples out "
                                 f"of {n}")
            xs, xs_val = [a[:split] for a in xs], [a[split:] for a in xs]
            y, y_val = y[:split], y[split:]
        else:
            xs_val = y_val = None

        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"fit: `callbacks` must be a list of Callbacks, got "
                            f"{type(callbacks).__name__}")
        history = History()
        cbs = [history] + list(callbacks or [])
        if not any(isinstance(c, ProgbarLogger) for c in cbs):
            cbs.insert(1, ProgbarLogger())
        if not any(isinstance(c, TerminateOnNaN) for c in cbs):
            cbs.append(TerminateOnNaN())
        steps = math.ceil(len(y) / batch_size)
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        for c in cbs:
            if not isinstance(c, Callback):
                raise TypeError(f"fit: callbacks must be minigrad.callbacks.Callback, got "
                                f"{type(c).__name__}")
            c.set_model(self)
            c.set_params(params)
        # On a GPU the data go over once, here; each step then gathers its batch
        # there, and only the loss and metric counts come back.
        backend = get_backend(self.device)
        xs, y = [backend.asarray(a) for a in xs], backend.asarray(y)
        if xs_val is not None:
            xs_val, y_val = [backend.asarray(a) for a in xs_val], backend.asarray(y_val)
        self.stop_training, self.stop_reason = False, None
        train_loss = self._fused_loss() or self.loss
        weights = self._train_weights()
        self.optimizer.build(weights)

        for c in cbs:
            c.on_train_begin({})
        for epoch in range(initial_epoch, epochs):
            for c in cbs:
                c.on_epoch_begin(epoch, {})
            order = backend.asarray(random.generator().permutation(len(y)) if shuffle
                                    else np.arange(len(y)))
            for m in self.metrics:
                m.reset()
            seen, loss_sum = 0, 0.0
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                # the batch lives only inside _train_step, so that each step's
                # buffers are free again (on a GPU: reused) before the next
                batch_loss = self._train_step([backend.take(a, idx) for a in xs],
                                              backend.take(y, idx), train_loss, weights)
                loss_sum += batch_loss * len(idx)
                seen += len(idx)
                logs = {"loss": loss_sum / seen}  # running means, as Keras's batch logs
                logs.update({m.name: m.result() for m in self.metrics})
                for c in cbs:
                    c.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            if xs_val is not None and not self.stop_training:
                val = self._evaluate_arrays(xs_val, y_val, batch_size)
                logs.update({f"val_{k}": v for k, v in val.items()})
            for c in cbs:
                c.on_epoch_end(epoch, logs)
            if self.stop_training:
                if self.stop_reason:
                    warnings.warn(self.stop_reason, RuntimeWarning, stacklevel=2)
                break
        for c in cbs:
            c.on_train_end({})
        return history

    def _train_step(self, xs: list, yb, train_loss, weights) -> float:
        """One optimizer step on a batch, updating the metrics; returns the batch loss."""
        out = self._forward(self._as_model_input(xs), training=True,
                            logits=train_loss is not self.loss)
        loss = train_loss(yb, out)
        for w in weights:
            w.grad = None
        loss.backward()
        self.optimizer.apply_gradients(weights)
        for w in weights:  # applied: free them now, not during the next forward
            w.grad = None
        for m in self.metrics:  # argmax of logits = argmax of softmax
            m.update(yb, out)
        return loss.item()

    def warmup(self, batch_size: int = 2, verbose: int = 1) -> float:
        """Compile, or load from Numba's cache, every kernel that fit, evaluate and
        predict use, on a batch of zeros; weights, optimizer and random state are
        left as they were. Saves a silent pause in the first step of `fit` (the
        cold compile takes seconds, the cache a fraction of one). Returns seconds."""
        import time
        if self.optimizer is None or self.loss is None:
            raise ValueError("warmup: the model must be compiled with an optimizer and a "
                             "loss first: model.compile(optimizer='adam', loss=...)")
        self._require_built("warmup")
        if verbose:
            print("minigrad: preparing kernels (compiled once, then cached)...", end=" ",
                  flush=True)
        start = time.perf_counter()
        weights, opt_state, rng = self.get_weights(), self.optimizer.get_state(), \
            self._random_states()
        xs = [np.zeros((batch_size,) + tuple(shape[1:]), dtype)
              for shape, dtype, _ in self._input_specs()]
        units = self._output_units(xs)
        y = np.zeros(batch_size, np.int64) if self.loss.sparse else \
            np.zeros((batch_size, units), xs[0].dtype)
        self._train_step(xs, y, self._fused_loss() or self.loss, self._train_weights())
        self._evaluate_arrays(xs, y, batch_size)
        self.set_weights(weights)
        self.optimizer.set_state(*opt_state, self._train_weights())
        self._set_random_states(rng)
        seconds = time.perf_counter() - start
        if verbose:
            print(f"done in {seconds:.1f} s", flush=True)
        return seconds

    # --------------------------------------------------------- random state
    def _layers_by_path(self) -> dict:
        """Every layer below the model by path ('dropout', 'block/dropout', ...)."""
        paths, stack = {}, [("", self)]
        while stack:
            prefix, layer = stack.pop()
            for sub in layer._sublayers():
                path = prefix + sub.name
                if path not in paths:
                    paths[path] = sub
                    stack.append((path + "/", sub))
        return paths

    def _random_states(self) -> dict:
        """Every generator the rest of a run draws from: minigrad's, and the private
        ones of layers seeded on their own (Dropout(seed=...))."""
        return {"random_state": random.get_state(),
                "layer_random_states": {path: layer._rng.bit_generator.state
                                        for path, layer in self._layers_by_path().items()
                                        if _private_rng(layer)}}

    def _set_random_states(self, states: dict) -> None:
        if states.get("random_state"):
            random.set_state(states["random_state"])
        layers = self._layers_by_path()
        for path, state in (states.get("layer_random_states") or {}).items():
            if _private_rng(layers.get(path)):
                layers[path]._rng.bit_generator.state = state

    # -------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 return_dict: bool = False):
        """Loss (and metrics) on (x, y): a float, or [loss, metric, ...] with metrics."""
        if self.loss is None:
            raise ValueError("evaluate: the model must be compiled with a loss first")
        xs, y = self._check_xy(x, y, "evaluate")
        batch_size = data.check_batch_size(batch_size)
        cbs = [ProgbarLogger()] if data.check_verbose(verbose) == 1 else []
        logs = self._evaluate_arrays(xs, y, batch_size, cbs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_arrays(self, xs: list, y, batch_size: int, callbacks=()) -> dict:
        fused = self._fused_loss()
        for m in self.metrics:
            m.reset()
        backend = get_backend(self.device)
        xs, y = [backend.asarray(a) for a in xs], backend.asarray(y)  # on a GPU: once
        _begin(callbacks, self, "test", math.ceil(len(y) / batch_size))
        total = 0.0
        with no_grad():
            for step, start in enumerate(range(0, len(y), batch_size)):
                yb = y[start:start + batch_size]
                out = self._forward(self._as_model_input(
                    [a[start:start + batch_size] for a in xs]), False, logits=bool(fused))
                total += (fused or self.loss)(yb, out).item() * len(yb)
                for m in self.metrics:
                    m.update(yb, out)
                for c in callbacks:
                    c.on_test_batch_end(step, {})
        logs = {"loss": total / len(y)}
        logs.update({m.name: m.result() for m in self.metrics})
        for c in callbacks:
            c.on_test_end(logs)
        return logs

    # --------------------------------------------------------------- predict
    def predict(self, x, batch_size: int | None = None, verbose="auto"):
        """The model's outputs for x as NumPy arrays (batched, no gradients); a list
        or dict of arrays for a model with several outputs."""
        xs = data.check_x(self, x, "predict")
        self._ensure_built(xs)
        batch_size = data.check_batch_size(batch_size)
        n = len(xs[0])
        cbs = [ProgbarLogger()] if data.check_verbose(verbose) == 1 and n > batch_size else []
        _begin(cbs, self, "predict", math.ceil(n / batch_size))
        outs = []
        with no_grad():
            for step, start in enumerate(range(0, n, batch_size)):
                out = self._forward(self._as_model_input(
                    [a[start:start + batch_size] for a in xs]), training=False)
                outs.append(tree.map_structure(lambda t: t.numpy(), out))
                for c in cbs:
                    c.on_predict_batch_end(step, {})
        for c in cbs:
            c.on_predict_end({})
        flat = [np.concatenate(parts) for parts in zip(*[tree.flatten(o) for o in outs])]
        return flat[0] if isinstance(outs[0], Tensor) or not tree.is_nested(outs[0]) else \
            tree.pack_sequence_as(outs[0], flat)


def _begin(callbacks, model, mode: str, steps: int) -> None:
    for c in callbacks:
        c.set_model(model)
        c.set_params({"steps": steps, "verbose": 1})
        getattr(c, f"on_{mode}_begin")({})


def _private_rng(layer) -> bool:
    """Whether `layer` draws from a generator of its own (e.g. Dropout(seed=...))."""
    return isinstance(getattr(layer, "_rng", None), np.random.Generator)

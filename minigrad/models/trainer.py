"""The training loop every model shares (Keras 3's Trainer): compile, fit, evaluate,
predict, train_on_batch, test_on_batch, predict_on_batch, warmup.

A model provides `_forward(inputs, training, logits)`, its input specs and its
output shapes; the trainer does the rest: data (data.py checks arrays, and
data_adapters.py turns every accepted input into batches), the optimizer step,
the compiled loss and metrics (compile_utils.py) plus the layers' own losses,
and the callbacks, every hook with a dict of logs (Keras's order: the user's
callbacks, then History and the progress bar).
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import optimizers as optimizers_mod
from ..backends import get_backend
from ..callbacks import CallbackList, TerminateOnNaN
from ..metrics import Mean
from ..tensor import Tensor, no_grad
from . import data, first_compile
from .compile_utils import CompileLoss, CompileMetrics
from .loop import Loop


class Trainer(Loop):
    """compile/fit/evaluate/predict for a Model (mixed into models.Model)."""

    def __init__(self):
        self.optimizer = self.loss = None
        self._compile_loss = self._compile_metrics = None
        self._loss_tracker = Mean(name="loss")
        self._output_loss_trackers: list = []
        self._metric_ids: list = []
        self.stop_training = False
        self.stop_reason: str | None = None
        self.compiled = False
        self.history = None
        self._initial_epoch = 0
        self._compiled_weights = None
        self._compiled_trainable_state = None
        self._output_shapes: dict = {}
        self._replicas = None  # fit/evaluate/predict's data parallelism (replicas.py)

    # ------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile="auto", auto_scale_loss: bool = True, device: str | None = None
                ) -> None:
        """Keras's compile: the optimizer (an instance or a name), the loss (a name, a
        Loss, any function fn(y_true, y_pred), or a list/dict of them for several
        outputs, with `loss_weights`), and metrics (names, Metric objects, functions;
        `weighted_metrics` see the sample weights). minigrad runs eagerly, so
        `run_eagerly` and `jit_compile` change nothing. The weights that train are
        those trainable now (as Keras: re-compile after changing `trainable`)."""
        if steps_per_execution != 1:
            raise NotImplementedError("compile: steps_per_execution != 1 is not supported by "
                                      "minigrad (each step runs on its own)")
        self.optimizer = optimizers_mod.get(optimizer)
        self._compile_loss = None if loss is None else CompileLoss(loss, loss_weights)
        # the Loss object for one loss (resolved now: a bad name fails here), else as given
        self.loss = loss if self._compile_loss is None or self._compile_loss.single is None \
            else self._compile_loss.single
        self._compile_metrics = CompileMetrics(metrics, weighted_metrics)
        self._metric_ids = list(metrics) if isinstance(metrics, (list, tuple)) else []
        if device is not None:
            self.to(device)
        self.compiled = True
        self._compiled_trainable_state = {id(layer): layer.trainable
                                          for layer in self._flatten_layers(include_self=True)}
        self._compiled_weights = self.trainable_weights if self.built else None
        specs = self._input_specs() if self.built else []
        if self._compile_loss is not None and specs and all(
                shape is not None and None not in shape[1:] for shape, _, _ in specs):
            xs = [np.zeros((1,) + tuple(shape[1:]), dtype) for shape, dtype, _ in specs]
            self._compile_loss.check_structure(self._output_structure(xs)[1])

    def _require_compiled(self, where: str) -> None:
        if self.optimizer is None and where != "evaluate":
            raise ValueError(f"{where}: the model must be compiled first: "
                             f"model.compile(optimizer='adam', loss=...)")
        if not self.compiled:
            raise ValueError(f"{where}: the model must be compiled first: "
                             f"model.compile(optimizer='adam', loss=...)")

    @property
    def metrics(self) -> list:
        """The loss trackers, then the compiled metrics (Keras's model.metrics, flat)."""
        compiled = self._compile_metrics.metrics if self._compile_metrics else []
        return [self._loss_tracker] + self._output_loss_trackers + compiled

    @property
    def metrics_names(self) -> list:
        """The names evaluate returns its values under, in order."""
        names = ["loss"] + [t.name for t in self._output_loss_trackers]
        if self._compile_metrics is not None and self._compile_metrics.built:
            names += [name for _, _, _, name in self._compile_metrics.entries]
        return names

    def _train_weights(self, layers: list | None = None) -> list:
        """The weights chosen at compile (warning, as Keras, if `trainable` changed since);
        `layers`: `_flatten_layers(include_self=True)`, where the caller has it."""
        state = self._compiled_trainable_state or {}
        changed = [layer.name for layer in layers or self._flatten_layers(include_self=True)
                   if id(layer) in state and state[id(layer)] != layer.trainable]
        if changed:
            warnings.warn(f"A layer's `trainable` state has changed since the model was "
                          f"compiled. Please recompile your model (e.g. `model.compile(...)`) "
                          f"before calling `fit()` so the change takes effect. Changed layers: "
                          f"{changed}", stacklevel=4)
            self._compiled_trainable_state = {id(layer): layer.trainable for layer in
                                              self._flatten_layers(include_self=True)}
        if self._compiled_weights is None:
            self._compiled_weights = self.trainable_weights
        return self._compiled_weights

    # ---------------------------------------------------------------- steps
    def _fused_loss(self):
        """The single output's loss on logits when the model ends in a softmax the
        loss can take in (one fused kernel); None otherwise."""
        cl = self._compile_loss
        loss = cl.single if cl is not None and cl.losses is None else \
            cl.losses[0] if cl is not None and len(cl.losses) == 1 else None
        if loss is None:
            return None
        if not getattr(loss, "fuses_softmax", False) or loss.from_logits or \
                self._softmax_output_layer() is None:
            return None
        return loss.from_config({**loss.get_config(), "from_logits": True})

    def _total_loss(self, ys, preds, sw, fused, layers: list):
        """The compiled loss plus every layer's losses (add_loss, regularizers)."""
        total, values = (None, []) if self._compile_loss is None else \
            self._compile_loss(ys, preds, sw, fused)
        for extra in self._losses_of(layers):
            total = extra if total is None else total + extra
        if total is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`, "
                             "or add losses with `add_loss()` in a layer's call")
        return total, values

    def _step(self, batch, training: bool) -> dict:
        """One batch through the model (and, training, the optimizer): the logs."""
        if self._replicas is not None:  # data parallel: this process's shard of it
            return self._replicas.step(batch, training)
        layers = self._flatten_layers(include_self=True)   # one walk of the tree per step
        total, values, preds, fused = self._forward_loss(batch, training, layers)
        if training:
            weights = self._train_weights(layers)
            for w in weights:
                w.grad = None
            total.backward()
            self.optimizer.apply_gradients(weights)
            for w in weights:  # applied: free them now, not during the next forward
                w.grad = None
        self._update_metrics(batch, total, values, preds, fused)
        return self._logs()

    def _forward_loss(self, batch, training: bool, layers: list | None = None) -> tuple:
        """The batch through the model: (total loss, per-output losses, outputs, fused).
        `layers`: `_flatten_layers(include_self=True)`, where the caller has it."""
        xs, ys, sw = batch
        fused = self._fused_loss() if ys is not None else None
        layers = layers or self._flatten_layers(include_self=True)
        self._clear_losses(layers)
        out = self._forward(self._as_model_input(xs), training=training, logits=bool(fused))
        preds = _flat_outputs(out)
        total, values = self._total_loss(ys, preds, sw, fused, layers)
        return total, values, preds, fused

    def _update_metrics(self, batch, total, values: list, preds: list, fused) -> None:
        """The loss trackers and compiled metrics, updated with this batch."""
        xs, ys, sw = batch
        n = len(xs[0])
        self._loss_tracker.update_state(total.item(), sample_weight=n)
        # one tracker per output that has a loss (an output of loss None has none)
        for tracker, value in zip(self._output_loss_trackers,
                                  [v for v in values if v is not None]):
            tracker.update_state(value.item(), sample_weight=n)
        if ys is not None and self._compile_metrics.entries:
            with no_grad():
                self._compile_metrics.update_state(ys, self._metric_predictions(
                    preds, bool(fused)), sw)

    def _metric_predictions(self, preds: list, fused: bool) -> list:
        """What metrics see: on logits (softmax fused into the loss) only argmax-based
        metrics can count; the others get the probabilities."""
        if fused and not all(getattr(m, "_argmax_only", False)
                             for m in self._compile_metrics.metrics):
            return [preds[0].softmax()]
        return preds

    def _logs(self) -> dict:
        from ..metrics import to_float
        logs = {"loss": to_float(self._loss_tracker.result())}
        for tracker in self._output_loss_trackers:
            logs[tracker.name] = to_float(tracker.result())
        if self._compile_metrics is not None and self._compile_metrics.built:
            logs.update(self._compile_metrics.result())
        return logs

    def _reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    # ------------------------------------------------------- one batch
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimizer step on one batch; the loss (and metrics), running since the
        last reset, as evaluate returns them."""
        self._require_compiled("train_on_batch")
        batch = self._batch_from_arrays(x, y, sample_weight, class_weight, "train_on_batch")
        self.optimizer.build(self._train_weights())
        first_compile.before_first_step(self, batch)
        return _results(self._step(batch, training=True), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        batch = self._batch_from_arrays(x, y, sample_weight, None, "test_on_batch")
        with no_grad():
            return _results(self._step(batch, training=False), return_dict)

    def predict_on_batch(self, x):
        xs = data.check_x(self, x, "predict_on_batch")
        self._ensure_built(xs)
        with no_grad():
            out = self._forward(self._as_model_input(xs), training=False)
        return _to_numpy(out)

    def _batch_from_arrays(self, x, y, sample_weight, class_weight, where: str) -> tuple:
        xs, ys, sw = self._check_arrays(x, y, sample_weight, class_weight, where)
        backend = get_backend(self.device)
        return ([backend.asarray(a) for a in xs],
                None if ys is None else [backend.asarray(a) for a in ys],
                None if sw is None else backend.asarray(sw))

    # --------------------------------------------------------------- warmup
    def warmup(self, batch_size: int = 2, verbose: int = 1) -> float:
        """Compile, or load from Numba's cache, every kernel that fit, evaluate and
        predict use, on a batch of zeros; weights, optimizer, metrics and random state
        are left as they were. Saves a silent pause in the first step of `fit` (the
        cold compile takes seconds, the cache a fraction of one). Returns seconds."""
        import time
        if self.optimizer is None or self._compile_loss is None:
            raise ValueError("warmup: the model must be compiled with an optimizer and a "
                             "loss first: model.compile(optimizer='adam', loss=...)")
        self._require_built("warmup")
        if verbose:
            print("minigrad: preparing kernels (compiled once, then cached)...", end=" ",
                  flush=True)
        start = time.perf_counter()
        xs = [np.zeros((batch_size,) + tuple(shape[1:]), dtype)
              for shape, dtype, _ in self._input_specs()]
        shapes, names = self._output_structure(xs)
        sparse = getattr(self.loss, "sparse", False)
        ys = [np.zeros(batch_size, np.int64) if sparse else
              np.zeros((batch_size,) + tuple(s[1:]), xs[0].dtype) for s in shapes]
        batch = self._batch_from_arrays(xs if len(xs) > 1 else xs[0],
                                        ys if len(ys) > 1 else ys[0], None, None, "warmup")
        steps = first_compile.restoring_steps(self, batch, evaluate=True)
        self.optimizer.build(self._train_weights())
        first_compile.compile_ahead(self, steps)
        steps()
        seconds = time.perf_counter() - start
        if verbose:
            print(f"done in {seconds:.1f} s", flush=True)
        return seconds


def _flat_outputs(out) -> list:
    from .. import tree
    return [out] if isinstance(out, Tensor) else tree.flatten(out)


def _to_numpy(out):
    from .. import tree
    return out.numpy() if isinstance(out, Tensor) else tree.map_structure(
        lambda t: t.numpy(), out)


def _results(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


__all__ = ["Trainer", "CallbackList", "TerminateOnNaN", "np"]

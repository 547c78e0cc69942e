"""fit, evaluate and predict: the epochs, the batches and the callbacks around the
Trainer's step (trainer.py), for every kind of data data_adapters.py accepts."""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import tree
from ..backends import get_backend
from ..callbacks import CallbackList, TerminateOnNaN
from ..metrics import Mean
from ..tensor import Tensor, no_grad
from . import data, first_compile
from .data_adapters import ArrayAdapter, kind_of, make_adapter, to_host, unpack
from .random_states import RandomStates
from .replicas import replicas_for

_RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset "
            "or generator can generate at least `steps_per_epoch * epochs` batches. You may "
            "need to use the `.repeat()` function when building your dataset.")


class Loop(RandomStates):
    """The data side and the loops of the Trainer (mixed into models.Model)."""

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size: int = 10):
        """Train for `epochs` epochs; returns the History of per-epoch logs."""
        self._require_compiled("fit")
        batch_size = data.check_batch_size(batch_size)
        epochs = data.check_int(epochs, "epochs", 1)
        initial_epoch = data.check_int(initial_epoch, "initial_epoch", 0)
        verbose = data.check_verbose(verbose)
        steps_per_epoch = _steps(steps_per_epoch, "steps_per_epoch")
        validation_steps = _steps(validation_steps, "validation_steps")
        due = _validation_freq(validation_freq)
        if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: `validation_split` must be a float in [0, 1), got "
                             f"{validation_split!r}")
        train, val = self._fit_adapters(
            x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch,
            validation_split, validation_data, validation_steps,
            validation_batch_size or batch_size, max_queue_size)
        replicas = replicas_for(self)
        if replicas is not None and replicas.rank != 0:
            verbose = 0  # rank 0 shows the progress
        cbs = CallbackList(_callbacks(callbacks, "fit"), add_history=True,
                           add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=epochs, steps=train.num_batches)
        if not any(isinstance(c, TerminateOnNaN) for c in cbs.callbacks):
            cbs.append(TerminateOnNaN())
        self.stop_training, self.stop_reason = False, None
        self._initial_epoch = initial_epoch
        logs = {}
        self._replicas = replicas
        try:
            cbs.on_train_begin({})  # BackupAndRestore may move _initial_epoch on
            if replicas is not None:  # the processes agree, and start from rank 0's state
                replicas.start(True, batch_size=batch_size, batches=train.num_batches,
                               epochs=epochs)
            for epoch in range(self._initial_epoch, epochs):
                self._reset_metrics()
                cbs.on_epoch_begin(epoch, {})
                steps, logs = self._train_epoch(train, cbs)
                if train.exhausted:
                    warnings.warn(_RAN_OUT, stacklevel=2)
                    self.stop_training = True
                    if not steps:
                        break
                epoch_logs = dict(logs)
                if val is not None and due(epoch) and not self.stop_training:
                    val_logs = self._test_loop(val, cbs)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                logs = epoch_logs
                train.on_epoch_end()
                if self.stop_training:
                    if self.stop_reason:
                        warnings.warn(self.stop_reason, RuntimeWarning, stacklevel=2)
                    break
        finally:
            self._replicas = None
            train.close()
            if val is not None:
                val.close()
        cbs.on_train_end(logs)
        return self.history

    def _train_epoch(self, train, cbs) -> tuple:
        """Every batch of an epoch; (batches done, the last logs: running means)."""
        logs, steps = {}, 0
        # no enumerate: it keeps its last (step, batch) tuple, and so the batch's device
        # buffers, alive while the next batch is made
        for batch in train.batches():
            step = steps
            batch = self._device_batch(batch, train, f"fit (batch {step})", self._class_weight)
            if steps == 0:
                self.optimizer.build(self._train_weights())
                if self._replicas is None:   # a cold Numba cache: its kernels on 2 processes
                    first_compile.before_first_step(self, batch)
            cbs.on_train_batch_begin(step, {})
            logs = self._step(batch, training=True)
            batch = None  # its buffers go back before the next batch is taken
            steps += 1
            cbs.on_train_batch_end(step, dict(logs))
            if self.stop_training:
                break
        return steps, logs

    def _fit_adapters(self, x, y, sample_weight, class_weight, batch_size, shuffle, steps,
                      validation_split, validation_data, validation_steps, val_batch_size,
                      max_queue_size) -> tuple:
        backend = get_backend(self.device)
        self._class_weight = None  # applied to the batches of Python sources as they come
        if kind_of(x, "fit") == "arrays":
            xs, ys, sw = self._check_arrays(x, y, sample_weight, class_weight, "fit")
            xs_val = None
            if validation_split and validation_data is None:
                n = len(xs[0])
                split = int(n * (1.0 - validation_split))  # Keras: the last part, unshuffled
                if split == 0 or split == n:
                    raise ValueError(f"fit: validation_split={validation_split} leaves no "
                                     f"{'training' if split == 0 else 'validation'} samples "
                                     f"out of {n}")
                xs, xs_val = [a[:split] for a in xs], [a[split:] for a in xs]
                ys, ys_val = _split(ys, split)
                sw, sw_val = _split(sw, split)
            train = ArrayAdapter(backend, xs, ys, sw, batch_size, bool(shuffle), steps)
            if xs_val is not None:
                return train, ArrayAdapter(backend, xs_val, ys_val, sw_val, val_batch_size,
                                           False, validation_steps)
        else:
            _only_arrays(y, sample_weight, validation_split, type(x).__name__)
            self._class_weight = class_weight
            train = make_adapter(x, shuffle=bool(shuffle), steps=steps,
                                 max_queue_size=max_queue_size)
        if validation_data is None:
            return train, None
        if kind_of(validation_data, "fit (validation_data)") == "arrays" and not (
                isinstance(validation_data, (tuple, list)) and
                2 <= len(validation_data) <= 3):
            raise ValueError("fit: `validation_data` must be a tuple (x_val, y_val) or (x_val, "
                             "y_val, sample_weight), or a PyDataset, generator or iterable of "
                             "such batches")
        return train, self._eval_adapter(tuple(validation_data) if isinstance(
            validation_data, list) else validation_data, None, None, val_batch_size,
            validation_steps, "fit (validation_data)")

    def _eval_adapter(self, x, y, sample_weight, batch_size, steps, where: str):
        if isinstance(x, tuple) and y is None and kind_of(x[0], where) == "arrays":
            if not 2 <= len(x) <= 3:
                raise ValueError(f"{where}: expected a tuple (x, y) or (x, y, sample_weight), "
                                 f"got a tuple of {len(x)}")
            x, y, sample_weight = (tuple(x) + (None,))[:3]
        if kind_of(x, where) == "arrays":
            xs, ys, sw = self._check_arrays(x, y, sample_weight, None, where)
            return ArrayAdapter(get_backend(self.device), xs, ys, sw, batch_size, False, steps)
        _only_arrays(y, sample_weight, 0.0, type(x).__name__)
        return make_adapter(x, steps=steps)

    # -------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, steps=None, callbacks=None, return_dict: bool = False):
        """The loss and metrics on the data: a number, [loss, metric, ...], or a dict."""
        self._require_compiled("evaluate")
        verbose = data.check_verbose(verbose)
        batch_size = data.check_batch_size(batch_size)
        adapter = self._eval_adapter(x, y, sample_weight, batch_size, _steps(steps, "steps"),
                                     "evaluate")
        replicas = replicas_for(self)
        if replicas is not None and replicas.rank != 0:
            verbose = 0
        cbs = CallbackList(_callbacks(callbacks, "evaluate"), add_progbar=verbose != 0,
                           model=self, verbose=verbose, epochs=1, steps=adapter.num_batches)
        self._replicas = replicas
        try:
            if replicas is not None:
                replicas.start(False, batch_size=batch_size, batches=adapter.num_batches)
            logs = self._test_loop(adapter, cbs)
        finally:
            self._replicas = None
            adapter.close()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _test_loop(self, adapter, cbs) -> dict:
        self._reset_metrics()
        cbs.on_test_begin({})
        logs = {}
        with no_grad():
            step = 0
            for batch in adapter.batches():  # not enumerate: see _train_epoch
                batch = self._device_batch(batch, adapter, f"evaluate (batch {step})")
                cbs.on_test_batch_begin(step, {})
                logs = self._step(batch, training=False)
                batch = None
                cbs.on_test_batch_end(step, dict(logs))
                step += 1
        adapter.on_epoch_end()
        cbs.on_test_end(dict(logs))
        return logs

    # --------------------------------------------------------------- predict
    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None,
                callbacks=None):
        """The model's outputs as NumPy arrays (a list or dict of them for several
        outputs), batched, without gradients."""
        verbose = data.check_verbose(verbose)
        batch_size = data.check_batch_size(batch_size)
        steps = _steps(steps, "steps")
        if kind_of(x, "predict") == "arrays":
            xs = data.check_x(self, x, "predict")
            self._ensure_built(xs)
            adapter = ArrayAdapter(get_backend(self.device), xs, None, None, batch_size,
                                   False, steps)
        else:
            adapter = make_adapter(x, steps=steps)
        replicas = replicas_for(self)
        if replicas is not None:
            verbose = verbose if replicas.rank == 0 else 0
            replicas.start(False, batch_size=batch_size, batches=adapter.num_batches)
        cbs = CallbackList(_callbacks(callbacks, "predict"), add_progbar=verbose != 0,
                           model=self, verbose=verbose, epochs=1, steps=adapter.num_batches)
        outs = []
        cbs.on_predict_begin({})
        try:
            with no_grad():
                step = 0
                for batch in adapter.batches():  # not enumerate: see _train_epoch
                    xs = self._predict_inputs(batch, adapter, step)
                    cbs.on_predict_batch_begin(step, {})
                    if replicas is not None:  # this process's rows of the batch
                        xs = replicas.shard(xs, *replicas.bounds(len(xs[0])))
                    out = None if not len(xs[0]) else \
                        self._forward(self._as_model_input(xs), training=False)
                    batch = xs = None
                    out = out.numpy() if isinstance(out, Tensor) else out if out is None \
                        else tree.map_structure(lambda t: t.numpy(), out)
                    outs.append(out)
                    cbs.on_predict_batch_end(step, {"outputs": out})
                    step += 1
        finally:
            adapter.close()
        if replicas is not None:
            outs = replicas.gather(outs)
        cbs.on_predict_end({})
        if not outs:
            raise ValueError("predict: the data yielded no batches")
        flat = [np.concatenate(parts) for parts in zip(*[tree.flatten(o) for o in outs])]
        return flat[0] if isinstance(outs[0], np.ndarray) else \
            tree.pack_sequence_as(outs[0], flat)

    def _predict_inputs(self, batch, adapter, step: int) -> list:
        if isinstance(adapter, ArrayAdapter):
            return batch[0]
        x = unpack(batch, "predict", step)[0]
        xs = data.check_x(self, to_host(x), f"predict (batch {step})")
        self._ensure_built(xs)
        backend = get_backend(self.device)
        return [backend.asarray(a) for a in xs]

    # ------------------------------------------------------------------ data
    def _ensure_built(self, xs: list) -> None:
        if not self.built:
            shapes = [(None,) + a.shape[1:] for a in xs]
            self.build(shapes[0] if len(shapes) == 1 else shapes)
            self.to(self.device)  # layers built during the build: onto the model's device

    def _as_model_input(self, arrays: list):
        tensors = [Tensor(a, device=self.device) for a in arrays]
        return tensors[0] if len(tensors) == 1 else tensors

    def _output_shape_for(self, input_shapes: list):
        key = tuple(tuple(s) for s in input_shapes)
        if key not in self._output_shapes:
            arg = input_shapes[0] if len(input_shapes) == 1 else list(input_shapes)
            self._output_shapes[key] = self.compute_output_shape(arg)
        return self._output_shapes[key]

    def _output_structure(self, xs: list) -> tuple:
        """([output shape], [output name]) in the model's flat output order."""
        shape = self._output_shape_for([(None,) + a.shape[1:] for a in xs])
        if isinstance(shape, dict):
            names = sorted(shape)
            return [tuple(shape[k]) for k in names], names
        if isinstance(shape, list):
            names = list(getattr(self, "output_names", None) or
                         [f"output_{i}" for i in range(len(shape))])
            return [tuple(s) for s in shape], names
        return [tuple(shape)], list(getattr(self, "output_names", None) or ["output"])[:1]

    def _check_arrays(self, x, y, sample_weight, class_weight, where: str) -> tuple:
        """x, y and the weights checked and converted (float64 models train against
        float64 targets); the compiled loss and metrics resolved on their shapes."""
        xs = data.check_x(self, x, where)
        self._ensure_built(xs)
        n = len(xs[0])
        shapes, names = self._output_structure(xs)
        needs_y = self._compile_loss is not None
        ys = None if y is None and not needs_y else data.check_ys(y, n, names, where)
        sw = data.check_sample_weight(sample_weight, n, where)
        if class_weight is not None:
            if ys is None or len(ys) != 1:
                raise ValueError(f"{where}: `class_weight` needs the targets of a model with "
                                 f"one output")
            cw = data.class_sample_weights(class_weight, ys[0], where)
            sw = cw if sw is None else sw * cw
        self._build_compiled(ys, shapes, names)
        if ys is not None:
            ys = self._checked_targets(ys, shapes)
        return xs, ys, sw

    def _checked_targets(self, ys: list, shapes: list) -> list:
        losses = self._compile_loss.losses if self._compile_loss is not None else [None] * len(ys)
        out = []
        for y, shape, loss in zip(ys, shapes, losses):
            rest = tuple(y.shape[i + 1] if d is None and y.ndim > i + 1 else d
                         for i, d in enumerate(shape[1:]))
            out.append(loss.check_targets(y, rest, dtype=self._input_dtype()) if loss is not None
                       else np.asarray(y, self._input_dtype()))
        return out

    def _build_compiled(self, ys, shapes: list, names: list) -> None:
        """Resolve the compiled loss and metrics on the first data they see."""
        y_shapes = [(None,) + tuple(y.shape[1:]) for y in ys] if ys is not None else shapes
        if self._compile_loss is not None and self._compile_loss.losses is None:
            self._compile_loss.build(y_shapes, shapes, names)
            if len(names) > 1:
                self._output_loss_trackers = [
                    Mean(name=f"{name}_loss") for name, loss in
                    zip(names, self._compile_loss.losses) if loss is not None]
        if self._compile_metrics is not None and not self._compile_metrics.built:
            self._compile_metrics.build(y_shapes, shapes, names if len(names) > 1 else [])

    def _device_batch(self, batch, adapter, where: str, class_weight=None) -> tuple:
        """A batch as backend arrays on the model's device (one from Python code is
        checked as arrays are, first)."""
        if isinstance(adapter, ArrayAdapter):
            return batch
        x, y, sw = unpack(batch, where, 0)
        xs, ys, sw = self._check_arrays(to_host(x), to_host(y), to_host(sw), class_weight,
                                        where)
        backend = get_backend(self.device)
        return ([backend.asarray(a) for a in xs],
                None if ys is None else [backend.asarray(a) for a in ys],
                None if sw is None else backend.asarray(sw))


def _callbacks(callbacks, where: str):
    if callbacks is not None and not isinstance(callbacks, (list, tuple, CallbackList)):
        raise TypeError(f"{where}: `callbacks` must be a list of Callbacks, got "
                        f"{type(callbacks).__name__}")
    return callbacks


def _steps(value, arg: str):
    return None if value is None else data.check_int(value, arg, 1)


def _validation_freq(freq):
    """When to validate: every `freq` epochs (an int), or at the listed epochs (1-based)."""
    if isinstance(freq, (list, tuple, set)):
        epochs = {data.check_int(e, "validation_freq", 1) for e in freq}
        return lambda epoch: epoch + 1 in epochs
    freq = data.check_int(freq, "validation_freq", 1)
    return lambda epoch: (epoch + 1) % freq == 0


def _split(arrays, at: int) -> tuple:
    if arrays is None:
        return None, None
    if isinstance(arrays, list):
        return [a[:at] for a in arrays], [a[at:] for a in arrays]
    return arrays[:at], arrays[at:]


def _only_arrays(y, sample_weight, validation_split, kind: str) -> None:
    """With data from Python code the batches carry targets and weights (Keras)."""
    for value, arg in ((y, "y"), (sample_weight, "sample_weight")):
        if value is not None:
            raise ValueError(f"`{arg}` argument is not supported when using a {kind} as "
                             f"input: its batches give (x, y) or (x, y, sample_weight)")
    if validation_split:
        raise ValueError(f"`validation_split` is only supported for NumPy arrays and "
                         f"Tensors, not for a {kind}; give `validation_data`")


__all__ = ["Loop", "math"]

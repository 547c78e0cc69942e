"""Sequential: Keras's model API (summary, compile, fit, evaluate, predict, save)."""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np
from tqdm.auto import tqdm

from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from . import random
from .backends import check_device, default_device, get_backend
from .callbacks import Callback, History, TerminateOnNaN
from .layers.base import LAYER_CLASSES, Layer, _fmt, _name_counts
from .layers.core import Input, can_fuse_conv_pool, conv_pool
from .layers.normalization import can_fold_conv_bn, conv_bn, is_relu
from .ops import activations
from .tensor import Tensor, no_grad

FORMAT = "minigrad.Sequential"


class Sequential:
    """A linear stack of layers, built from the first layer's `input_shape` or
    from the first data it sees."""

    def __init__(self, layers=None, name: str | None = None):
        if name is None:
            count = _name_counts["sequential"]
            name = "sequential" if count == 0 else f"sequential_{count}"
        _name_counts["sequential"] += 1
        self.name = name
        self.layers: list = []
        self.device = default_device()
        self.built = False
        self.input_shape: tuple | None = None      # batch axis included (None)
        self._output_shapes: list = []
        self.optimizer = self.loss = None
        self.metrics: list = []
        self.stop_training = False
        self.stop_reason: str | None = None
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(f"Sequential: `layers` must be a list of layers, got "
                            f"{type(layers).__name__}")
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------- structure
    def add(self, layer) -> None:
        if isinstance(layer, Input):
            if self.layers:
                raise ValueError("Sequential: an Input can only be the first element")
            self.input_shape = (None,) + layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a minigrad.layers.Layer, got "
                            f"{type(layer).__name__}")
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"Sequential: all layers need unique names; {layer.name!r} is "
                             f"already in the model")
        if not self.layers and self.input_shape is None and layer.input_shape_arg is not None:
            self.input_shape = (None,) + layer.input_shape_arg
        layer.to(self.device)
        self.layers.append(layer)
        if self.input_shape is not None:
            self.build(self.input_shape)

    def build(self, input_shape) -> None:
        """Build every layer for `input_shape` (batch axis first, may be None)."""
        shape = (None,) + tuple(input_shape[1:])
        self.input_shape = shape
        self._output_shapes = []
        for layer in self.layers:
            layer.ensure_built(shape)
            shape = tuple(layer.compute_output_shape(shape))
            self._output_shapes.append(shape)
        self.built = bool(self.layers)

    @property
    def output_shape(self) -> tuple:
        self._require_built("output_shape")
        return self._output_shapes[-1]

    def get_layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self.layers for w in layer.trainable_weights]

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list:
        return [a for layer in self.layers for a in layer.get_weights()]

    def set_weights(self, weights) -> None:
        self._require_built("set_weights")
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"Sequential {self.name!r}: set_weights expects a list of arrays, "
                            f"got {type(weights).__name__}")
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"Sequential {self.name!r}: set_weights expected {expected} arrays, "
                             f"got {len(weights)}")
        old, i = self.get_weights(), 0
        try:  # all or nothing: a bad array in a late layer leaves earlier ones untouched
            for layer in self.layers:
                n = len(layer.weights)
                layer.set_weights(list(weights[i:i + n]))
                i += n
        except (ValueError, TypeError):
            self._assign(old)
            raise

    def _assign(self, arrays: list) -> None:
        i = 0
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(arrays[i:i + n])
            i += n

    def to(self, device: str) -> "Sequential":
        """Move every weight (and the optimizer's state) to `device`."""
        self.device = check_device(device)
        for layer in self.layers:
            layer.to(device)
        if self.optimizer is not None:
            self.optimizer.to(device)
        return self

    # ------------------------------------------------------------ forward
    def __call__(self, x, training: bool = False) -> Tensor:
        return self._forward(self._as_input(x), training)

    @property
    def _dtype(self) -> str:
        """The input dtype: the first layer's (float32 unless built for float64)."""
        return self.layers[0].dtype if self.layers else "float32"

    def _as_input(self, x) -> Tensor:
        if isinstance(x, Tensor):
            return x.to(self.device)
        return Tensor(np.asarray(x, self._dtype), device=self.device)

    def _forward(self, x: Tensor, training: bool, logits: bool = False) -> Tensor:
        if not self.layers:
            raise ValueError(f"Sequential {self.name!r} has no layers")
        if not self.built:
            self.build(x.shape)
        i, body = 0, self.layers[:-1]
        while i < len(body):
            if i + 1 < len(body) and can_fuse_conv_pool(body[i], body[i + 1]):
                x = conv_pool(body[i], body[i + 1], x)  # one op, same result
                i += 2
            elif i + 1 < len(body) and can_fold_conv_bn(body[i], body[i + 1], training):
                relu = i + 2 < len(body) and is_relu(body[i + 2])  # fused as well
                x = conv_bn(body[i], body[i + 1], x, "relu" if relu else None)
                i += 3 if relu else 2
            else:
                x = body[i](x, training=training)
                i += 1
        last = self.layers[-1]
        if logits:  # the softmax is fused into the loss
            last.ensure_built(x.shape)
            return last.pre_activation(x)
        return last(x, training=training)

    # --------------------------------------------------------------- summary
    def summary(self, line_length: int | None = None, print_fn=None) -> None:
        """Print Keras's layer table: name (type), output shape, params, totals."""
        self._require_built("summary")
        print_fn = print_fn or print
        rows = [(f"{l.name} ({type(l).__name__})", _fmt(s), f"{l.count_params():,}")
                for l, s in zip(self.layers, self._output_shapes)]
        w0 = max([29] + [len(r[0]) + 2 for r in rows])
        w1 = max([26] + [len(r[1]) + 2 for r in rows])
        w2 = max(10, line_length - w0 - w1 if line_length else 10)
        width = w0 + w1 + w2
        total = self.count_params()
        trainable = sum(w.size for w in self.trainable_weights)
        lines = [f'Model: "{self.name}"', "_" * width,
                 f"{' Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':<{w2}}", "=" * width]
        for i, (a, b, c) in enumerate(rows):
            lines.append(f" {a:<{w0 - 1}}{b:<{w1}}{c:<{w2}}")
            lines.append("=" * width if i == len(rows) - 1 else " " * width)
        for label, n in (("Total", total), ("Trainable", trainable),
                         ("Non-trainable", total - trainable)):
            lines.append(f"{label} params: {n:,} ({_bytes(n * 4)})")
        lines.append("_" * width)
        for line in lines:
            print_fn(line)

    # --------------------------------------------------------------- compile
    def compile(self, optimizer="adam", loss=None, metrics=None, device: str | None = None
                ) -> None:
        """Choose the optimizer, loss and metrics (and, optionally, the device)."""
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = None if loss is None else losses_mod.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: `metrics` must be a list such as ['accuracy'], got "
                            f"{metrics!r}")
        self._metric_ids = list(metrics or [])
        self.metrics = []
        if device is not None:
            self.to(device)
        if self.built:
            self._resolve_metrics()

    def _resolve_metrics(self) -> None:
        outputs = self.output_shape[-1]
        self.metrics = [metrics_mod.get(m, self.loss, outputs) for m in self._metric_ids]

    def _fused_loss(self):
        """The loss to train with: fused on logits when the model ends in softmax."""
        last = self.layers[-1]
        fuse = (self.loss.fuses_softmax and not self.loss.from_logits and
                getattr(last, "activation", None) is activations.softmax and
                hasattr(last, "pre_activation"))
        return type(self.loss)(from_logits=True) if fuse else None

    # ------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, initial_epoch: int = 0) -> History:
        """Train for `epochs` epochs; returns a History of per-epoch logs."""
        if self.optimizer is None or self.loss is None:
            raise ValueError("fit: the model must be compiled with an optimizer and a loss "
                             "first: model.compile(optimizer='adam', loss=...)")
        x, y = self._check_xy(x, y, "fit")
        batch_size = _check_batch_size(batch_size)
        epochs, initial_epoch = _check_int(epochs, "epochs", 1), _check_int(
            initial_epoch, "initial_epoch", 0)
        verbose = _check_verbose(verbose)
        if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: `validation_split` must be a float in [0, 1), got "
                             f"{validation_split!r}")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: `validation_data` must be a tuple (x_val, y_val)")
            x_val, y_val = self._check_xy(*validation_data, "fit (validation_data)")
        elif validation_split:
            split = int(len(x) * (1.0 - validation_split))  # Keras: the last part, unshuffled
            if split == 0 or split == len(x):
                raise ValueError(f"fit: validation_split={validation_split} leaves no "
                                 f"{'training' if split == 0 else 'validation'} samples out "
                                 f"of {len(x)}")
            x, x_val, y, y_val = x[:split], x[split:], y[:split], y[split:]
        else:
            x_val = y_val = None

        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"fit: `callbacks` must be a list of Callbacks, got "
                            f"{type(callbacks).__name__}")
        history = History()
        cbs = [history] + list(callbacks or [])
        if not any(isinstance(c, TerminateOnNaN) for c in cbs):
            cbs.append(TerminateOnNaN())
        for c in cbs:
            if not isinstance(c, Callback):
                raise TypeError(f"fit: callbacks must be minigrad.callbacks.Callback, got "
                                f"{type(c).__name__}")
            c.set_model(self)
        steps = math.ceil(len(x) / batch_size)
        # On a GPU the data go over once, here; each step then gathers its batch
        # there, and only the loss and metric counts come back.
        backend = get_backend(self.device)
        x, y = backend.asarray(x), backend.asarray(y)
        if x_val is not None:
            x_val, y_val = backend.asarray(x_val), backend.asarray(y_val)
        history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        self.stop_training, self.stop_reason = False, None
        train_loss = self._fused_loss() or self.loss
        weights = self.trainable_weights
        self.optimizer.build(weights)

        for c in cbs:
            c.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for c in cbs:
                c.on_epoch_begin(epoch)
            order = backend.asarray(random.generator().permutation(len(x)) if shuffle
                                    else np.arange(len(x)))
            for m in self.metrics:
                m.reset()
            seen, loss_sum, start = 0, 0.0, time.perf_counter()
            bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch",
                       disable=verbose != 1, file=sys.stdout, dynamic_ncols=True,
                       mininterval=0.25)
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                # the batch lives only inside _train_step, so that each step's
                # buffers are free again (on a GPU: reused) before the next
                batch_loss = self._train_step(backend.take(x, idx), backend.take(y, idx),
                                              train_loss, weights)
                loss_sum += batch_loss * len(idx)
                seen += len(idx)
                logs = {"loss": loss_sum / seen}
                logs.update({m.name: m.result() for m in self.metrics})
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
                bar.update(1)
                for c in cbs:
                    c.on_train_batch_end(step, {**logs, "loss": batch_loss})
                if self.stop_training:
                    break
            if x_val is not None and not self.stop_training:
                val = self._evaluate_arrays(x_val, y_val, batch_size)
                logs.update({f"val_{k}": v for k, v in val.items()})
            bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
            bar.close()
            if verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.1f}s - " +
                      " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
            for c in cbs:
                c.on_epoch_end(epoch, logs)
            if self.stop_training:
                if self.stop_reason:
                    warnings.warn(self.stop_reason, RuntimeWarning, stacklevel=2)
                break
        for c in cbs:
            c.on_train_end()
        return history

    def _train_step(self, xb, yb, train_loss, weights) -> float:
        """One optimizer step on a batch, updating the metrics; returns the batch loss."""
        out = self._forward(Tensor(xb, device=self.device), training=True,
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
        x = np.zeros((batch_size,) + tuple(self.input_shape[1:]), self._dtype)
        outputs = self.output_shape[-1]
        y = np.zeros(batch_size, np.int64) if self.loss.sparse else \
            np.zeros((batch_size, outputs), self._dtype)
        self._train_step(x, y, self._fused_loss() or self.loss, self.trainable_weights)
        self._evaluate_arrays(x, y, batch_size)
        self._assign(weights)
        self.optimizer.set_state(*opt_state, self.trainable_weights)
        self._set_random_states(rng)
        seconds = time.perf_counter() - start
        if verbose:
            print(f"done in {seconds:.1f} s", flush=True)
        return seconds

    def _random_states(self) -> dict:
        """Every generator the rest of a run draws from: minigrad's, and the private
        ones of layers seeded on their own (Dropout(seed=...))."""
        return {"random_state": random.get_state(),
                "layer_random_states": {l.name: l._rng.bit_generator.state
                                        for l in self.layers if _private_rng(l)}}

    def _set_random_states(self, states: dict) -> None:
        if states.get("random_state"):
            random.set_state(states["random_state"])
        for name, state in (states.get("layer_random_states") or {}).items():
            layer = self.get_layer(name)
            if _private_rng(layer):
                layer._rng.bit_generator.state = state

    # -------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 return_dict: bool = False):
        """Loss (and metrics) on (x, y): a float, or [loss, metric, ...] with metrics."""
        if self.loss is None:
            raise ValueError("evaluate: the model must be compiled with a loss first")
        x, y = self._check_xy(x, y, "evaluate")
        logs = self._evaluate_arrays(x, y, _check_batch_size(batch_size),
                                     _check_verbose(verbose) == 1)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_arrays(self, x, y, batch_size: int, show: bool = False) -> dict:
        fused = self._fused_loss()
        for m in self.metrics:
            m.reset()
        backend = get_backend(self.device)
        x, y = backend.asarray(x), backend.asarray(y)  # on a GPU: once, not per batch
        total = 0.0
        with no_grad():
            for start in tqdm(range(0, len(x), batch_size), disable=not show, file=sys.stdout,
                              desc="evaluate", unit="batch"):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                out = self._forward(Tensor(xb, device=self.device), False, logits=bool(fused))
                total += (fused or self.loss)(yb, out).item() * len(xb)
                for m in self.metrics:
                    m.update(yb, out)
        logs = {"loss": total / len(x)}
        logs.update({m.name: m.result() for m in self.metrics})
        return logs

    # --------------------------------------------------------------- predict
    def predict(self, x, batch_size: int | None = None, verbose="auto") -> np.ndarray:
        """The model's outputs for x, as a NumPy array (batched, no gradients)."""
        x = self._check_x(x, "predict")
        batch_size = _check_batch_size(batch_size)
        show = _check_verbose(verbose) == 1 and len(x) > batch_size
        outs = []
        with no_grad():
            for start in tqdm(range(0, len(x), batch_size), disable=not show, file=sys.stdout,
                              desc="predict", unit="batch"):
                xb = Tensor(x[start:start + batch_size], device=self.device)
                outs.append(self._forward(xb, training=False).numpy())
        return np.concatenate(outs)

    # ------------------------------------------------------------ validation
    def _check_x(self, x, where: str) -> np.ndarray:
        if x is None:
            raise ValueError(f"{where}: `x` is required")
        x = x.numpy() if isinstance(x, Tensor) else x
        try:
            arr = np.asarray(x)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"{where}: `x` must be a rectangular numeric array ({e})") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or
                                       arr.dtype == bool):
            raise TypeError(f"{where}: `x` must be numeric, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise TypeError(f"{where}: `x` must be real numbers, got dtype {arr.dtype}")
        if arr.ndim == 0 or len(arr) == 0:
            raise ValueError(f"{where}: `x` is empty (shape {arr.shape})")
        if self.input_shape is not None:
            want = self.input_shape[1:]
            if arr.shape[1:] != want:
                raise ValueError(f"{where}: model {self.name!r} expects inputs of shape "
                                 f"{_fmt((None,) + want)}, got {arr.shape}")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, caught next
            arr = arr.astype(self._dtype, copy=False)  # one pass over the data, not per batch
        if not np.isfinite(arr).all():
            raise ValueError(f"{where}: `x` contains NaN or infinite values")
        return np.ascontiguousarray(arr)

    def _check_xy(self, x, y, where: str) -> tuple:
        x = self._check_x(x, where)
        if y is None:
            raise ValueError(f"{where}: `y` (the targets) is required")
        y = np.asarray(y.numpy() if isinstance(y, Tensor) else y)
        if y.ndim == 0 or len(y) != len(x):
            raise ValueError(f"{where}: x and y must have the same number of samples, got "
                             f"{len(x)} and {len(y) if y.ndim else 'a scalar'}")
        if not self.built:
            self.build((None,) + x.shape[1:])
        if not self.metrics and self._metric_ids:
            self._resolve_metrics()
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            raise ValueError(f"{where}: `y` contains NaN or infinite values")
        return x, self.loss.check_targets(y, self.output_shape[-1], dtype=self._dtype)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"{what}: model {self.name!r} has not been built yet. Give the "
                             f"first layer an `input_shape`, or call the model on data first")

    # ------------------------------------------------------------ save / load
    def get_config(self) -> dict:
        return {"name": self.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                           for l in self.layers],
                "input_shape": None if self.input_shape is None else list(self.input_shape[1:])}

    def save(self, filepath, epoch: int | None = None) -> None:
        """Write config, weights and optimizer state to one .npz file, atomically:
        a temporary file beside it, then a rename, so a failed save leaves any
        previous file intact."""
        self._require_built("save")
        # everything the rest of a run depends on: minigrad's generator and the
        # private generators of layers seeded on their own (Dropout(seed=...))
        meta = {"format": FORMAT, "version": 1, "model": self.get_config(), "epoch": epoch,
                **self._random_states()}
        arrays = {f"weight_{i:04d}": w for i, w in enumerate(self.get_weights())}
        if self.optimizer is not None:
            iterations, slots = self.optimizer.get_state()
            meta["compile"] = {
                "optimizer": {"class_name": type(self.optimizer).__name__,
                              "config": self.optimizer.get_config(), "iterations": iterations},
                "loss": {"class_name": type(self.loss).__name__,
                         "config": self.loss.get_config()} if self.loss else None,
                "metrics": [m if isinstance(m, str) else m.name for m in self._metric_ids]}
            arrays.update({f"optimizer_{i:04d}": s for i, s in enumerate(slots)})
        arrays["config"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        path = os.fspath(filepath)
        fd, tmp = tempfile.mkstemp(prefix=".minigrad-", suffix=".tmp",
                                   dir=os.path.dirname(os.path.abspath(path)))
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # atomic: readers see the old file or the new one
            _fsync_dir(os.path.dirname(os.path.abspath(path)))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True
               ) -> Sequential:
    """Rebuild a model written by `Sequential.save` (config, weights, optimizer)."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"load_model: `filepath` must be a str or os.PathLike, got "
                        f"{type(filepath).__name__}")
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no such file: {path!r}")
    try:
        # every array is read (and its zip CRC checked) here, before anything is built
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["config"]).decode())
            arrays = {k: data[k] for k in data.files if k != "config"}
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format') if isinstance(meta, dict) else meta!r}"
                             f", expected {FORMAT!r}")
        classes = {**LAYER_CLASSES, **(custom_objects or {})}
        layers = []
        for spec in meta["model"]["layers"]:
            cls = classes.get(spec["class_name"])
            if cls is None:
                raise _UnknownClass(spec["class_name"])
            layers.append(cls.from_config(spec["config"]))
    except _UnknownClass as e:
        raise ValueError(f"load_model: {path!r} uses the unknown layer class {e.args[0]!r}; "
                         f"pass it in custom_objects={{{e.args[0]!r}: TheClass}}") from None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
        raise ValueError(f"load_model: {path!r} is not a readable minigrad model file "
                         f"({type(e).__name__}: {e})") from None
    model = Sequential(name=meta["model"].get("name"))
    for layer in layers:
        model.add(layer)
    if meta["model"]["input_shape"] is not None and not model.built:
        model.build((None,) + tuple(meta["model"]["input_shape"]))
    weights = [arrays[k] for k in sorted(arrays) if k.startswith("weight_")]
    model.set_weights(weights)
    model._set_random_states(meta)
    spec = meta.get("compile")
    if compile and spec:
        opt = spec["optimizer"]
        optimizer = getattr(optimizers_mod, opt["class_name"])(**opt["config"])
        loss = None if spec["loss"] is None else \
            getattr(losses_mod, spec["loss"]["class_name"])(**spec["loss"]["config"])
        model.compile(optimizer=optimizer, loss=loss, metrics=spec["metrics"])
        slots = [arrays[k] for k in sorted(arrays) if k.startswith("optimizer_")]
        optimizer.set_state(opt["iterations"], slots, model.trainable_weights)
    return model


def _fsync_dir(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _UnknownClass(Exception):
    pass


def _private_rng(layer) -> bool:
    """Whether `layer` draws from a generator of its own (e.g. Dropout(seed=...))."""
    return isinstance(getattr(layer, "_rng", None), np.random.Generator)


def _check_batch_size(batch_size) -> int:
    if batch_size is None:
        return 32  # Keras's default
    return _check_int(batch_size, "batch_size", 1)


def _check_int(value, arg: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{arg}` must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024

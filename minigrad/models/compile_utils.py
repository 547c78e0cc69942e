"""What `compile` does with its loss and metrics identifiers (Keras 3's
trainers/compile_utils.py): strings, functions and objects become Loss and
Metric instances, named as Keras names them in the logs."""
from __future__ import annotations

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from ..utils.naming import get_object_name


def is_binary_or_sparse_categorical(y_true_shape: tuple, y_pred_shape: tuple) -> tuple:
    """Keras's rule: binary when the prediction has one unit; sparse when the
    targets have a lower rank, or one unit against several predicted."""
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
    return is_binary, is_sparse


def get_loss(identifier, y_true_shape: tuple | None = None,
             y_pred_shape: tuple | None = None) -> losses_mod.Loss | None:
    """A Loss for compile: 'crossentropy'/'ce' picked from the shapes; a built-in
    function becomes its class (its target checks, the fused softmax kernel);
    any other callable fn(y_true, y_pred) is wrapped in a LossFunctionWrapper."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        if y_true_shape is None:
            return None  # resolved on the first batch, when the shapes are known
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true_shape, y_pred_shape)
        obj = losses_mod.binary_crossentropy if is_binary else (
            losses_mod.sparse_categorical_crossentropy if is_sparse else
            losses_mod.categorical_crossentropy)
    else:
        obj = losses_mod.get(identifier)
    if isinstance(obj, losses_mod.Loss):
        return obj
    name = identifier if isinstance(identifier, str) else get_object_name(obj)
    cls = losses_mod.FUNCTION_CLASSES.get(obj)
    if cls is not None:
        return cls(name=name)
    return losses_mod.LossFunctionWrapper(obj, name=name)


def check_metric(identifier) -> None:
    """Fail at compile, not at the first batch, on a metric that cannot resolve."""
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return
    if isinstance(identifier, (str, dict)):
        metrics_mod.get(identifier)
    elif not callable(identifier):
        raise ValueError(f"Could not interpret metric identifier: {identifier!r}; expected a "
                         f"metric name, a minigrad.metrics.Metric or a function "
                         f"fn(y_true, y_pred)")


def get_metric(identifier, y_true_shape: tuple, y_pred_shape: tuple) -> metrics_mod.Metric:
    """A Metric for compile, named by the identifier as given ('acc' logs 'acc');
    'accuracy'/'acc' pick binary, sparse or categorical accuracy from the shapes."""
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() in ("accuracy", "acc"):
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true_shape, y_pred_shape)
        cls = metrics_mod.BinaryAccuracy if is_binary else (
            metrics_mod.SparseCategoricalAccuracy if is_sparse else
            metrics_mod.CategoricalAccuracy)
        obj = cls(name=str(identifier))
    else:
        obj = metrics_mod.get(identifier)
    name = identifier if isinstance(identifier, str) else get_object_name(obj)
    if not isinstance(obj, metrics_mod.Metric):
        obj = metrics_mod.MeanMetricWrapper(obj, name=name)
    obj.name = name
    return obj


def _per_output(spec, names: list, what: str) -> list:
    """A compile argument as one entry per output: a list/tuple in output order, a dict
    by output name (missing names: None), or one value used for every output."""
    n = len(names)
    if what.startswith("loss") and n == 1 and isinstance(spec, (list, tuple)) and \
            len(spec) == 1:
        return list(spec)  # [loss] for a model with one output
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(f"compile: `{what}` names {unknown}, which are not outputs of the "
                             f"model; its outputs are {names}")
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)) and (n > 1 or what == "loss_weights" or
                                            (spec and isinstance(spec[0], (list, tuple)))):
        if len(spec) != n:
            raise ValueError(f"compile: `{what}` has {len(spec)} entries for a model with {n} "
                             f"output(s) {names}")
        return list(spec)
    return [spec] * n


def _check_reduction(loss) -> None:
    """A compiled loss must reduce to one number: reduction=None gives per-sample values."""
    if isinstance(loss, losses_mod.Loss) and loss.reduction in (None, "none"):
        raise ValueError(f"compile: the loss {loss.name!r} has reduction={loss.reduction!r}, "
                         f"which returns one value per sample; training needs a scalar: use "
                         f"'sum_over_batch_size' (the default), 'mean', "
                         f"'mean_with_sample_weight' or 'sum'")


class CompileLoss:
    """The loss of `compile(loss=..., loss_weights=...)`: one Loss per output (a list,
    a dict by output name, or one loss for all), resolved on the first batch, when
    the shapes are known. The total is sum(weight_i * loss_i); with several outputs
    each output's loss is also logged as '<output>_loss', as Keras 3 logs it."""

    def __init__(self, loss, loss_weights=None):
        self.spec, self.weights_spec = loss, loss_weights
        #: the Loss of a single (not list/dict) spec, resolved now so that a bad name
        #: fails at compile; None for 'crossentropy', which needs the shapes
        self.single = None if isinstance(loss, (list, tuple, dict)) else get_loss(loss)
        if isinstance(loss, (list, tuple, dict)):
            entries = list(loss.values()) if isinstance(loss, dict) else list(loss)
            if not any(e is not None for e in entries):
                raise ValueError(f"compile: `loss` gives no loss for any output: {loss!r}")
            for entry in entries:  # each checked now, not at the first batch
                if entry is not None:
                    _check_reduction(get_loss(entry))
        _check_reduction(self.single)
        weights = [] if loss_weights is None else list(loss_weights.values()) if isinstance(
            loss_weights, dict) else list(loss_weights) if isinstance(
            loss_weights, (list, tuple)) else [loss_weights]
        if not all(w is None or (isinstance(w, (int, float, np.number)) and
                                 not isinstance(w, bool) and np.isfinite(w)) for w in weights):
            raise ValueError(f"compile: `loss_weights` must be numbers (a list in output order "
                             f"or a dict by output name), got {loss_weights!r}")
        self.losses: list | None = None   # one Loss (or None) per output, once built
        self.weights: list = []
        self.names: list = []

    def check_structure(self, names: list) -> None:
        """The loss and loss_weights fit outputs `names` (at compile, when known)."""
        _per_output(self.spec, names, "loss")
        if self.weights_spec is not None:
            _per_output(self.weights_spec, names, "loss_weights")

    def build(self, y_true_shapes: list, y_pred_shapes: list, output_names: list) -> None:
        names = output_names or [f"output_{i}" for i in range(len(y_pred_shapes))]
        specs = _per_output(self.spec, names, "loss")
        self.losses = [None if s is None else
                       self.single if s is self.spec and self.single is not None and
                       len(names) == 1 else get_loss(s, yt, yp)
                       for s, yt, yp in zip(specs, y_true_shapes, y_pred_shapes)]
        if all(loss is None for loss in self.losses):
            raise ValueError(f"compile: `loss` gives no loss for any of the outputs {names}")
        weights = [1.0] * len(names) if self.weights_spec is None else \
            _per_output(self.weights_spec, names, "loss_weights")
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.names = names if len(names) > 1 else []

    def __call__(self, y_true: list, y_pred: list, sample_weight=None, fused=None) -> tuple:
        """(total loss, [each output's loss value or None]); `fused` replaces the single
        output's loss (the softmax fused into it)."""
        values, total = [], None
        for i, (loss, w) in enumerate(zip(self.losses, self.weights)):
            if loss is None:
                values.append(None)
                continue
            value = (fused or loss)(y_true[i], y_pred[i], sample_weight)
            values.append(value)
            term = value if w == 1.0 else value * w
            total = term if total is None else total + term
        return total, values


class CompileMetrics:
    """The metrics of `compile(metrics=..., weighted_metrics=...)`, resolved on the first
    batch: for one output a list; for several, a list of lists or a dict by output
    name. Weighted metrics see the sample weights, the others do not (Keras 3). With
    several outputs the names get the output's name first ('<output>_<metric>')."""

    def __init__(self, metrics=None, weighted_metrics=None):
        for spec, arg in ((metrics, "metrics"), (weighted_metrics, "weighted_metrics")):
            if spec is not None and not isinstance(spec, (list, tuple, dict)):
                raise TypeError(f"compile: `{arg}` must be a list such as ['accuracy'] (or a "
                                f"dict by output name), got {spec!r}")
            for m in _flat_ids(spec):
                check_metric(m)
        self.spec, self.weighted_spec = metrics, weighted_metrics
        self.entries: list | None = None   # (output index, Metric, weighted, log name)

    @property
    def built(self) -> bool:
        return self.entries is not None

    def build(self, y_true_shapes: list, y_pred_shapes: list, output_names: list) -> None:
        names = output_names or [f"output_{i}" for i in range(len(y_pred_shapes))]
        entries, used = [], {}
        for spec, weighted in ((self.spec, False), (self.weighted_spec, True)):
            if not spec:
                continue
            per = [spec] if len(names) == 1 and not isinstance(spec, dict) else \
                _per_output(spec, names, "weighted_metrics" if weighted else "metrics")
            for i, ids in enumerate(per):
                for m in ([] if ids is None else ids if isinstance(ids, (list, tuple))
                          else [ids]):
                    metric = get_metric(m, y_true_shapes[i], y_pred_shapes[i])
                    name = metric.name if len(names) == 1 else f"{names[i]}_{metric.name}"
                    if weighted and name in used:
                        name = f"weighted_{name}"
                    if name in used:
                        used[name] += 1
                        name = f"{name}_{used[name] - 1}"
                    used.setdefault(name, 1)
                    entries.append((i, metric, weighted, name))
        self.entries = entries

    @property
    def metrics(self) -> list:
        return [m for _, m, _, _ in self.entries or []]

    def reset_state(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def update_state(self, y_true: list, y_pred: list, sample_weight=None) -> None:
        for i, metric, weighted, _ in self.entries:
            metric.update_state(y_true[i], y_pred[i], sample_weight if weighted else None)

    def result(self) -> dict:
        from ..metrics import to_float
        return {name: _pythonify(metric.result(), to_float)
                for _, metric, _, name in self.entries or []}


def _pythonify(value, to_float):
    """A scalar result as a float (an array result, e.g. per threshold, as NumPy)."""
    try:
        return to_float(value)
    except (TypeError, ValueError):
        return value.numpy() if hasattr(value, "numpy") else value


def _flat_ids(spec) -> list:
    if spec is None:
        return []
    if isinstance(spec, dict):
        return [m for v in spec.values() for m in _flat_ids(v)]
    if isinstance(spec, (list, tuple)):
        return [m for v in spec for m in _flat_ids(v)]
    return [spec]


def serialize_loss(loss):
    """compile's losses as saved: one Loss, or a list/dict of them (None allowed)."""
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, (list, tuple)):
        return [serialize_loss(x) for x in loss]
    if isinstance(loss, dict):
        return {"per_output": {k: serialize_loss(v) for k, v in loss.items()}}
    return losses_mod.serialize(loss)


def deserialize_loss(config):
    if config is None:
        return None
    if isinstance(config, list):
        return [deserialize_loss(x) for x in config]
    if isinstance(config, dict) and "per_output" in config:
        return {k: deserialize_loss(v) for k, v in config["per_output"].items()}
    if isinstance(config, dict):
        known = {n for n, c in losses_mod.ALL_OBJECTS_DICT.items()
                 if isinstance(c, type) and c is not losses_mod.Loss}
        if config.get("class_name") not in known:
            raise ValueError(f"unknown loss {config.get('class_name')!r}; expected one of "
                             f"{sorted(known)}")
    return losses_mod.deserialize(config)

"""Confusion-matrix metrics: Precision, Recall, AUC and the four counts, as Keras 3
computes them (thresholds, top_k, class_id, sample weights), on the host."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .metric import Metric, host
from .reduction_metrics import _same_rank

NEG_INF = -1e10
EPSILON = 1e-7
KINDS = ("tp", "fp", "tn", "fn")


def _thresholds(thresholds, default: float, owner: str) -> list:
    values = [default] if thresholds is None else (
        list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds])
    if thresholds is not None:
        bad = [t for t in values if t is None or not 0 <= t <= 1]
        if bad:
            raise ValueError(f"{owner}: threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def _evenly_distributed(thresholds) -> bool:
    n = len(thresholds)
    return n >= 3 and np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1),
                                  atol=EPSILON)


def confusion_counts(y_true, y_pred, thresholds, kinds=KINDS, top_k=None, class_id=None,
                     sample_weight=None, multi_label: bool = False, label_weights=None,
                     evenly: bool = False) -> dict:
    """{kind: counts per threshold} of `kinds` for predictions above each threshold
    (Keras's update_confusion_matrix_variables)."""
    y_true, y_pred = host(y_true), host(y_pred)
    y_pred, y_true = _same_rank(y_pred, y_true)
    weights = None
    if sample_weight is not None:  # Keras: expanded, then squeezed back to y_true's rank
        weights = host(sample_weight)[..., None]
        if weights.ndim == y_true.ndim + 1 and weights.shape[-1] == 1:
            weights = weights[..., 0]
    if top_k is not None:  # keep the k highest scores, the rest -> NEG_INF
        order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :top_k]
        keep = np.zeros(y_pred.shape, bool)
        np.put_along_axis(keep, order, True, axis=-1)
        y_pred = np.where(keep, y_pred, NEG_INF)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(f"When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if weights is not None:
        weights = np.broadcast_to(weights, y_pred.shape)
    if label_weights is not None and not multi_label:
        lw = np.broadcast_to(np.asarray(label_weights, np.float64), y_pred.shape)
        weights = lw if weights is None else weights * lw
    thresholds = np.asarray(thresholds, np.float64)
    if evenly:
        return _bucketed(y_true, y_pred, thresholds, kinds, weights, multi_label)
    label = y_true.astype(bool)
    if multi_label:  # (thresholds, samples, labels)
        pred_pos = y_pred[None] > thresholds.reshape(-1, 1, 1)
        label, w = label[None], None if weights is None else weights[None]
        axis = 1
    else:
        pred_pos = y_pred.reshape(1, -1) > thresholds.reshape(-1, 1)
        label = label.reshape(1, -1)
        w = None if weights is None else weights.reshape(1, -1)
        axis = 1
    cases = {"tp": (label, pred_pos), "fn": (label, ~pred_pos), "fp": (~label, pred_pos),
             "tn": (~label, ~pred_pos)}
    out = {}
    for kind in kinds:
        both = np.logical_and(*cases[kind])
        out[kind] = (both if w is None else np.where(both, w, 0.0)).sum(axis=axis)
    return out


def _bucketed(y_true, y_pred, thresholds, kinds, weights, multi_label) -> dict:
    """Keras's optimized path for evenly spaced thresholds: each prediction falls in
    one bucket, and counts are suffix sums over the buckets."""
    n = len(thresholds)
    with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
    y_pred = np.clip(y_pred, 0.0, 1.0)
    t = y_true.astype(bool).astype(np.float64)
    w = 1.0 if weights is None else weights
    true_labels, false_labels = t * w, (1.0 - t) * w
    bucket = np.ceil(y_pred * (n - 1)) - 1
    if with_epsilon:
        bucket = np.maximum(bucket, 0)
    bucket = bucket.astype(np.int64)
    true_labels = np.broadcast_to(true_labels, y_pred.shape)
    false_labels = np.broadcast_to(false_labels, y_pred.shape)
    if not multi_label:  # one column of all predictions
        bucket, true_labels, false_labels = (a.reshape(-1, 1) for a in
                                             (bucket, true_labels, false_labels))

    def segment_sums(data):  # per column; bucket -1 (a 0 without the epsilon) drops out
        return np.stack([np.bincount(b[b >= 0], d[b >= 0], n)
                         for b, d in zip(bucket.T, data.T)], axis=1)

    tp_b, fp_b = segment_sums(true_labels), segment_sums(false_labels)
    total_t, total_f = true_labels.sum(0), false_labels.sum(0)
    if not multi_label:
        tp_b, fp_b, total_t, total_f = tp_b[:, 0], fp_b[:, 0], total_t[0], total_f[0]
    tp = np.flip(np.cumsum(np.flip(tp_b, 0), 0), 0)
    fp = np.flip(np.cumsum(np.flip(fp_b, 0), 0), 0)
    values = {"tp": tp, "fp": fp, "tn": total_f - fp, "fn": total_t - tp}
    return {k: values[k] for k in kinds}


class _ConfusionBase(Metric):
    """State: one count per threshold for each kind in `kinds`."""

    kinds: tuple = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _thresholds(thresholds, 0.5 if top_k is None else NEG_INF,
                                      type(self).__name__)
        self._evenly = _evenly_distributed(self.thresholds)
        self._counts = {k: self.add_variable((len(self.thresholds),), "zeros",
                                             dtype="float64", name=k) for k in self.kinds}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        counts = confusion_counts(y_true, y_pred, self.thresholds, self.kinds, self.top_k,
                                  self.class_id, sample_weight, evenly=self._evenly)
        for kind, value in counts.items():
            self._counts[kind].assign_add(value)

    def _scalar(self, value: np.ndarray) -> Tensor:
        return Tensor(value[0] if len(self.thresholds) == 1 else value, dtype="float64")

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


def _divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


class Precision(_ConfusionBase):
    """true positives / (true positives + false positives), per threshold."""

    kinds = ("tp", "fp")

    def result(self):
        tp, fp = self._counts["tp"].numpy(), self._counts["fp"].numpy()
        return self._scalar(_divide_no_nan(tp, tp + fp))


class Recall(_ConfusionBase):
    """true positives / (true positives + false negatives), per threshold."""

    kinds = ("tp", "fn")

    def result(self):
        tp, fn = self._counts["tp"].numpy(), self._counts["fn"].numpy()
        return self._scalar(_divide_no_nan(tp, tp + fn))


class _Count(_ConfusionBase):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result(self):
        return self._scalar(self._counts[self.kinds[0]].numpy())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class TruePositives(_Count):
    kinds = ("tp",)


class FalsePositives(_Count):
    kinds = ("fp",)


class TrueNegatives(_Count):
    kinds = ("tn",)


class FalseNegatives(_Count):
    kinds = ("fn",)


class AUC(Metric):
    """Area under the ROC or PR curve, approximated with a Riemann sum over
    `num_thresholds` thresholds (Keras's default 200, evenly spaced in [0, 1]
    plus the endpoints -1e-7 and 1 + 1e-7); `summation_method` 'interpolation'
    (the default), 'minoring' or 'majoring'."""

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name=None, dtype=None,
                 thresholds=None, multi_label: bool = False, num_labels=None,
                 label_weights=None, from_logits: bool = False):
        curve, summation_method = str(curve).upper(), str(summation_method).lower()
        if curve not in ("ROC", "PR"):
            raise ValueError(f'Invalid `curve` argument value "{curve}". Expected one of: '
                             f"['ROC', 'PR']")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f'Invalid `summation_method` argument value "{summation_method}".'
                             f" Expected one of: ['interpolation', 'minoring', 'majoring']")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, 0.5, "AUC"))
            self.num_thresholds = len(inner) + 2
            evenly = _evenly_distributed(np.array([0.0] + inner + [1.0]))
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or \
                    num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds!r}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        self._thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        self._evenly = evenly
        self.curve, self.summation_method = curve, summation_method
        super().__init__(name=name, dtype=dtype)
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else \
            np.asarray(label_weights, np.float64)
        self._from_logits = bool(from_logits)
        self._built = False
        if self.multi_label and num_labels:
            self._build((None, num_labels))
        elif not self.multi_label:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    def _build(self, shape) -> None:
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found "
                                 f"rank {len(shape)}. Full shape received for `y_pred`: "
                                 f"{shape}")
            self._num_labels = shape[1]
            var_shape = (self.num_thresholds, self._num_labels)
        else:
            var_shape = (self.num_thresholds,)
        self._counts = {k: self.add_variable(var_shape, "zeros", dtype="float64", name=k)
                        for k in KINDS}
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = host(y_pred)
        if not self._built:
            self._build(y_pred.shape)
        if self._from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        counts = confusion_counts(y_true, y_pred, self._thresholds, KINDS,
                                  sample_weight=sample_weight, multi_label=self.multi_label,
                                  label_weights=None if self.multi_label else
                                  self.label_weights, evenly=self._evenly)
        for kind, value in counts.items():
            self._counts[kind].assign_add(value)

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def _average(self, per_threshold: np.ndarray) -> np.ndarray:
        if not self.multi_label:
            return per_threshold.sum()
        by_label = per_threshold.sum(axis=0)
        if self.label_weights is None:
            return by_label.mean()
        return _divide_no_nan((by_label * self.label_weights).sum(), self.label_weights.sum())

    def result(self):
        tp, fp, tn, fn = (self._counts[k].numpy() for k in KINDS)
        n = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            return Tensor(self._interpolate_pr_auc(tp, fp, fn), dtype="float64")
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:n - 1], y[1:])
        else:
            heights = np.maximum(y[:n - 1], y[1:])
        return Tensor(self._average((x[:n - 1] - x[1:]) * heights), dtype="float64")

    def _interpolate_pr_auc(self, tp, fp, fn) -> np.ndarray:
        """Davis & Goadrich's interpolation, Keras's closed form."""
        n = self.num_thresholds
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:n - 1] > 0) & (p[1:] > 0),
                         _divide_no_nan(p[:n - 1], np.maximum(p[1:], 0)), np.ones_like(p[1:]))
        increment = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)),
                                   np.maximum(tp[1:] + fn[1:], 0))
        return self._average(increment)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else
                  self.label_weights.tolist(), "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config

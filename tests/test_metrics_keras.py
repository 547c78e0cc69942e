"""Metrics against NumPy transcriptions of Keras 3's formulas (keras/src/metrics/*.py):
accuracies, regression errors, Mean/Sum, Precision/Recall, AUC; custom metrics with
add_weight; identifiers and configs; counting on the backend."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import metrics


def value(m):
    return np.asarray(m.result(), np.float64)


def _probs(rng, n=40, k=5):
    p = rng.uniform(0, 1, (n, k))
    return p / p.sum(-1, keepdims=True)


# ------------------------------------------------------------- accuracies
def test_accuracy_family_matches_numpy(rng):
    p = _probs(rng)
    labels = rng.integers(0, 5, 40)
    onehot = np.eye(5)[labels]
    w = rng.uniform(0, 1, 40)
    hits = (p.argmax(-1) == labels).astype(float)
    for m, y in ((metrics.SparseCategoricalAccuracy(), labels),
                 (metrics.SparseCategoricalAccuracy(), labels[:, None]),
                 (metrics.CategoricalAccuracy(), onehot)):
        m.update_state(y[:25], mg.Tensor(p[:25]))
        m.update_state(y[25:], mg.Tensor(p[25:]))
        assert value(m) == pytest.approx(hits.mean())
        m.reset_state()
        m.update_state(y, p, sample_weight=w)
        assert value(m) == pytest.approx((hits * w).sum() / w.sum())
    scores = rng.uniform(0, 1, (40, 1))
    binary = rng.integers(0, 2, (40, 1))
    for threshold in (0.5, 0.3):
        m = metrics.BinaryAccuracy(threshold=threshold)
        m.update_state(binary, mg.Tensor(scores))
        assert value(m) == pytest.approx((binary == (scores > threshold)).mean())
    m = metrics.Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert value(m) == pytest.approx(0.75)


def test_top_k_accuracies_match_numpy_with_ties(rng):
    p = np.round(_probs(rng), 1)  # ties straddle the top-k boundary: counted in, as Keras
    labels = rng.integers(0, 5, 40)
    for k in (1, 2, 3):
        kth = -np.sort(-p, axis=-1)[:, k - 1]
        want = (p[np.arange(40), labels] >= kth).mean()
        m = metrics.SparseTopKCategoricalAccuracy(k=k)
        m.update_state(labels, p)
        assert value(m) == pytest.approx(want)
        m = metrics.TopKCategoricalAccuracy(k=k)
        m.update_state(np.eye(5)[labels], mg.Tensor(p))
        assert value(m) == pytest.approx(want)
    m = metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    m.update_state([1, 3], [[1, 0, 2], [0, 2, 3]])
    assert value(m) == pytest.approx(0.5)


def test_accuracy_counts_on_the_backend_without_copying_predictions(monkeypatch, rng):
    """No sample weights: backend.count_correct does the counting; NumPy is never asked
    for the predictions (on a GPU only the count crosses)."""
    from minigrad.backends import get_backend
    cpu, calls = get_backend("cpu"), []
    real = cpu.count_correct
    monkeypatch.setattr(cpu, "count_correct", lambda *a: calls.append(a[2]) or real(*a))
    p, labels = _probs(rng), rng.integers(0, 5, 40)
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(labels, mg.Tensor(p))
    metrics.CategoricalAccuracy().update_state(np.eye(5)[labels], mg.Tensor(p))
    metrics.BinaryAccuracy().update_state(labels[:, None] % 2, mg.Tensor(p[:, :1]))
    assert calls == ["sparse", "categorical", "binary"]
    metrics.SparseCategoricalAccuracy().update_state(labels, p, sample_weight=np.ones(40))
    assert len(calls) == 3


# -------------------------------------------------------- regression, means
def test_regression_and_mean_metrics(rng):
    y, p = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    w = rng.uniform(0, 1, 30)
    for m, per_sample in ((metrics.MeanSquaredError(), ((y - p) ** 2).mean(-1)),
                          (metrics.MeanAbsoluteError(), np.abs(y - p).mean(-1))):
        m.update_state(y[:10], mg.Tensor(p[:10]))
        m.update_state(y[10:], mg.Tensor(p[10:]))
        assert value(m) == pytest.approx(per_sample.mean())
        m.reset_state()
        m.update_state(y, p, sample_weight=w)
        assert value(m) == pytest.approx((per_sample * w).sum() / w.sum())
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert value(m) == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert value(m) == 2.0
    s = metrics.Sum()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert value(s) == 4.0
    m = metrics.Mean()
    m.update_state(np.arange(12.0).reshape(4, 3), sample_weight=[1, 2, 0, 0])
    assert value(m) == pytest.approx((1 * 1 + 4 * 2) / 3)
    assert float(metrics.Mean().result()) == 0.0  # divide_no_nan


EPS = 1e-7


def _l2n(x):
    return x / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), EPS * EPS))


def _hinge_t(y):
    return np.where(y == 0, -1.0, y)


LOSS_METRICS = [  # (metric, y_true kind, y_pred kind, per-sample NumPy reference)
    (metrics.MeanAbsolutePercentageError, "real", "real",
     lambda y, p: 100 * np.abs((y - p) / np.maximum(np.abs(y), EPS)).mean(-1)),
    (metrics.MeanSquaredLogarithmicError, "pos", "pos",
     lambda y, p: ((np.log(p + 1) - np.log(y + 1)) ** 2).mean(-1)),
    (metrics.CosineSimilarity, "real", "real", lambda y, p: (_l2n(y) * _l2n(p)).sum(-1)),
    (metrics.LogCoshError, "real", "real", lambda y, p: np.log(np.cosh(p - y)).mean(-1)),
    (metrics.Hinge, "binary", "real",
     lambda y, p: np.maximum(1 - _hinge_t(y) * p, 0).mean(-1)),
    (metrics.SquaredHinge, "binary", "real",
     lambda y, p: (np.maximum(1 - _hinge_t(y) * p, 0) ** 2).mean(-1)),
    (metrics.CategoricalHinge, "onehot", "real",
     lambda y, p: np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0)),
    (metrics.KLDivergence, "probs", "probs",
     lambda y, p: (y * np.log(np.clip(y, EPS, 1) / np.clip(p, EPS, 1))).sum(-1)),
    (metrics.Poisson, "pos", "pos", lambda y, p: (p - y * np.log(p + EPS)).mean(-1)),
    (metrics.BinaryCrossentropy, "binary", "probs",
     lambda y, p: -(y * np.log(np.clip(p, EPS, 1 - EPS)) +
                    (1 - y) * np.log(np.clip(1 - p, EPS, 1 - EPS))).mean(-1)),
    (metrics.CategoricalCrossentropy, "onehot", "probs",
     lambda y, p: -(y * np.log(np.clip(p, EPS, 1 - EPS))).sum(-1)),
]


@pytest.mark.parametrize("cls, tkind, pkind, ref", LOSS_METRICS,
                         ids=[c[0].__name__ for c in LOSS_METRICS])
def test_loss_based_metrics_match_numpy(cls, tkind, pkind, ref, rng):
    kinds = {"real": lambda: rng.standard_normal((20, 4)),
             "pos": lambda: rng.uniform(0.1, 3, (20, 4)),
             "binary": lambda: rng.integers(0, 2, (20, 4)).astype(np.float64),
             "onehot": lambda: np.eye(4)[rng.integers(0, 4, 20)],
             "probs": lambda: _probs(rng, 20, 4)}
    y, p, w = kinds[tkind](), kinds[pkind](), rng.uniform(0, 1, 20)
    m = cls()
    m.update_state(y[:7], mg.Tensor(p[:7]))
    m.update_state(y[7:], mg.Tensor(p[7:]))
    assert value(m) == pytest.approx(ref(y, p).mean(), rel=1e-6)
    m.reset_state()
    m.update_state(y, p, sample_weight=w)
    assert value(m) == pytest.approx((ref(y, p) * w).sum() / w.sum(), rel=1e-6)


def test_root_mean_squared_error_and_keras_examples(rng):
    m = metrics.RootMeanSquaredError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert value(m) == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert value(m) == pytest.approx(0.70710677)
    m = metrics.SparseCategoricalCrossentropy()
    m.update_state([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert value(m) == pytest.approx(1.1769392, rel=1e-6)
    m.reset_state()
    m.update_state([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], sample_weight=[0.3, 0.7])
    assert value(m) == pytest.approx(1.6271976, rel=1e-6)
    m = metrics.CosineSimilarity(axis=1)
    m.update_state([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]])
    assert value(m) == pytest.approx(0.49999997, rel=1e-6)


def test_mean_metric_wrapper_of_a_function(rng):
    def squared(y_true, y_pred):
        return (y_true - y_pred) * (y_true - y_pred)

    y, p = rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
    m = metrics.MeanMetricWrapper(squared, name="sq")
    m.update_state(y, mg.Tensor(p))
    assert m.name == "sq" and value(m) == pytest.approx(((y - p) ** 2).mean())


# -------------------------------------------------------------- confusion
def ref_confusion(y, p, thresholds, w=None):
    y, p = y.reshape(-1).astype(bool), p.reshape(-1)
    w = np.ones_like(p) if w is None else np.broadcast_to(w, p.shape)
    out = {k: [] for k in ("tp", "fp", "tn", "fn")}
    for t in thresholds:
        pos = p > t
        out["tp"].append(w[y & pos].sum())
        out["fp"].append(w[~y & pos].sum())
        out["tn"].append(w[~y & ~pos].sum())
        out["fn"].append(w[y & ~pos].sum())
    return {k: np.array(v) for k, v in out.items()}


def test_precision_recall_match_numpy(rng):
    y, p = rng.integers(0, 2, 50), rng.uniform(0, 1, 50)
    w = rng.uniform(0, 1, 50)
    for thresholds in (None, 0.3, [0.2, 0.5, 0.9]):
        ts = [0.5] if thresholds is None else np.atleast_1d(thresholds)
        c = ref_confusion(y, p, ts, w)
        prec, rec = metrics.Precision(thresholds), metrics.Recall(thresholds)
        for m in (prec, rec):
            m.update_state(y[:20], p[:20], sample_weight=w[:20])
            m.update_state(y[20:], mg.Tensor(p[20:]), sample_weight=w[20:])
        want_p, want_r = c["tp"] / (c["tp"] + c["fp"]), c["tp"] / (c["tp"] + c["fn"])
        np.testing.assert_allclose(value(prec), want_p if len(ts) > 1 else want_p[0])
        np.testing.assert_allclose(value(rec), want_r if len(ts) > 1 else want_r[0])
    for cls, key in ((metrics.TruePositives, "tp"), (metrics.FalsePositives, "fp"),
                     (metrics.TrueNegatives, "tn"), (metrics.FalseNegatives, "fn")):
        m = cls()
        m.update_state(y, p)
        assert value(m) == ref_confusion(y, p, [0.5])[key][0]


def test_precision_top_k_and_class_id():
    y = np.array([[0, 0, 1, 1], [1, 0, 0, 0]])
    p = np.array([[0.1, 0.9, 0.8, 0.2], [0.7, 0.6, 0.1, 0.05]])
    m = metrics.Precision(top_k=2)  # keeps the 2 highest per row, threshold NEG_INF
    m.update_state(y, p)
    assert value(m) == pytest.approx(2 / 4)
    m = metrics.Recall(class_id=2)
    m.update_state(y, p)
    assert value(m) == pytest.approx(1.0)


def ref_auc(y, p, num_thresholds=200, curve="ROC", summation="interpolation", w=None):
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    c = ref_confusion(y, p, [-1e-7] + inner + [1 + 1e-7], w)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    div = lambda a, b: np.where(b == 0, 0, a / np.where(b == 0, 1, b))  # noqa: E731
    recall = div(tp, tp + fn)
    if curve == "ROC":
        x, yv = div(fp, fp + tn), recall
    else:
        x, yv = recall, div(tp, tp + fp)
    if summation == "interpolation":
        h = (yv[:-1] + yv[1:]) / 2
    elif summation == "minoring":
        h = np.minimum(yv[:-1], yv[1:])
    else:
        h = np.maximum(yv[:-1], yv[1:])
    return ((x[:-1] - x[1:]) * h).sum()


@pytest.mark.parametrize("curve,summation", [("ROC", "interpolation"), ("ROC", "minoring"),
                                             ("ROC", "majoring"), ("PR", "minoring"),
                                             ("PR", "majoring")])
def test_auc_matches_numpy(curve, summation, rng):
    y, p = rng.integers(0, 2, 300), rng.uniform(0, 1, 300)
    w = rng.uniform(0, 1, 300)
    m = metrics.AUC(curve=curve, summation_method=summation)
    assert m.num_thresholds == 200
    m.update_state(y[:100], p[:100], sample_weight=w[:100])
    m.update_state(y[100:], p[100:], sample_weight=w[100:])
    assert value(m) == pytest.approx(ref_auc(y, p, 200, curve, summation, w), rel=1e-9)
    m = metrics.AUC(num_thresholds=7, curve=curve, summation_method=summation)
    m.update_state(y, p)
    assert value(m) == pytest.approx(ref_auc(y, p, 7, curve, summation), rel=1e-9)


def test_auc_keras_examples_and_pr_interpolation(rng):
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert value(m) == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert value(m) == pytest.approx(1.0)
    y, p = rng.integers(0, 2, 300), rng.uniform(0, 1, 300)
    m = metrics.AUC(curve="PR")  # Davis & Goadrich interpolation, a step away from majoring
    m.update_state(y, p)
    lo, hi = ref_auc(y, p, 200, "PR", "minoring"), ref_auc(y, p, 200, "PR", "majoring")
    assert lo - 1e-9 <= value(m) <= hi + 1e-9
    custom = metrics.AUC(thresholds=[0.25, 0.5, 0.75])
    custom.update_state(y, p)
    assert value(custom) == pytest.approx(ref_auc(y, p, 5), rel=1e-9)
    logits = metrics.AUC(from_logits=True)
    logits.update_state(y, np.log(p / (1 - p)))
    assert value(logits) == pytest.approx(ref_auc(y, p), rel=1e-6)


# ------------------------------------------------------------ custom metric
class CategoricalTruePositives(metrics.Metric):
    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = (np.asarray(y_pred).argmax(1) == np.asarray(y_true).reshape(-1))
        values = hits.astype("float32")
        if sample_weight is not None:
            values = values * np.asarray(sample_weight, "float32")
        self.true_positives.assign_add(values.sum())

    def result(self):
        return self.true_positives


def test_custom_metric_with_add_weight(rng):
    m = CategoricalTruePositives()
    p, labels = _probs(rng), rng.integers(0, 5, 40)
    m.update_state(labels, mg.Tensor(p))
    assert float(m.result()) == (p.argmax(1) == labels).sum()
    assert [v.name for v in m.variables] == ["categorical_true_positives/ctp"]
    assert m.variables[0].dtype == np.float32 and m.dtype == "float32"
    m.reset_state()
    assert float(m.result()) == 0.0
    assert float(m(labels, p)) == (p.argmax(1) == labels).sum()  # __call__: update, then result


def test_forgetting_super_init_is_a_clear_error():
    class Broken(metrics.Metric):
        def __init__(self):
            self.v = self.add_weight(name="v")

    with pytest.raises(RuntimeError, match="forgot to call `super\\(\\).__init__\\(\\)`"):
        Broken()


def test_variable_assign_methods():
    v = mg.variables.Variable(np.zeros(3, "float32"), name="v")
    v.assign([1, 2, 3])
    v.assign_add(np.ones(3))
    v.assign_sub(mg.Tensor(np.full(3, 0.5, "float32")))
    np.testing.assert_array_equal(v.numpy(), [1.5, 2.5, 3.5])
    with pytest.raises(ValueError, match=r"must match. variable.shape=\(3,\), Received: "
                                         r"value.shape=\(2,\)"):
        v.assign([1, 2])


# ------------------------------------------------------------- identifiers
def test_get_resolves_names_as_keras():
    assert isinstance(metrics.get("mae"), metrics.MeanAbsoluteError)
    assert isinstance(metrics.get("sparse_categorical_accuracy"),
                      metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get("AUC"), metrics.AUC)
    assert isinstance(metrics.get("auc"), metrics.AUC)
    assert isinstance(metrics.get("mape"), metrics.MeanAbsolutePercentageError)
    assert isinstance(metrics.get("MSLE"), metrics.MeanSquaredLogarithmicError)
    assert isinstance(metrics.get("bce"), metrics.BinaryCrossentropy)
    assert isinstance(metrics.get("root_mean_squared_error"), metrics.RootMeanSquaredError)
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 'f1x'"):
        metrics.get("f1x")


def test_compile_resolves_accuracy_from_shapes_as_keras():
    from minigrad.models.compile_utils import get_metric
    assert type(get_metric("accuracy", (None,), (None, 10))) is \
        metrics.SparseCategoricalAccuracy
    assert type(get_metric("acc", (None, 1), (None, 10))) is metrics.SparseCategoricalAccuracy
    assert type(get_metric("accuracy", (None, 10), (None, 10))) is metrics.CategoricalAccuracy
    assert type(get_metric("accuracy", (None, 1), (None, 1))) is metrics.BinaryAccuracy
    assert get_metric("acc", (None,), (None, 10)).name == "acc"
    assert get_metric("mae", (None, 1), (None, 1)).name == "mae"
    fn = get_metric(metrics.sparse_categorical_accuracy, (None,), (None, 3))
    assert isinstance(fn, metrics.MeanMetricWrapper) and fn.name == "sparse_categorical_accuracy"


@pytest.mark.parametrize("metric", [metrics.AUC(num_thresholds=50, curve="PR"),
                                    metrics.Precision(thresholds=[0.3, 0.6], name="p"),
                                    metrics.BinaryAccuracy(threshold=0.7),
                                    metrics.SparseTopKCategoricalAccuracy(k=3),
                                    metrics.MeanAbsoluteError(name="mae"),
                                    metrics.CosineSimilarity(axis=0),
                                    metrics.RootMeanSquaredError(),
                                    metrics.CategoricalCrossentropy(label_smoothing=0.1),
                                    metrics.LogCoshError()])
def test_config_round_trip(metric):
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()

"""Losses against NumPy transcriptions of Keras 3's formulas (keras/src/losses/losses.py,
keras/src/backend/numpy/nn.py), float32 and float64; reductions and sample weights as
keras/src/losses/loss.py; float64 gradchecks; identifiers and configs."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import losses
from minigrad.testing import gradcheck

EPS = 1e-7


# ------------------------------------------------ NumPy references (Keras 3)
def ref_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def ref_cce(t, p, from_logits=False, label_smoothing=0.0):
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / p.shape[-1]
    if from_logits:
        return -(t * ref_log_softmax(p)).sum(-1)
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(t * np.log(p)).sum(-1)


def ref_scce(labels, p, from_logits=False):
    return ref_cce(np.eye(p.shape[-1])[labels], p, from_logits)


def ref_bce(t, p, from_logits=False, label_smoothing=0.0):
    if label_smoothing:
        t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:  # jax's form: -t log_sigmoid(x) - (1 - t) log_sigmoid(-x)
        return (t * np.logaddexp(0, -p) + (1 - t) * np.logaddexp(0, p)).mean(-1)
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)


def ref_huber(t, p, delta=1.0):
    e = p - t
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e ** 2, delta * a - 0.5 * delta ** 2).mean(-1)


def ref_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return (t * np.log(t / p)).sum(-1)


def ref_hinge(t, p):
    if np.all((t == 0) | (t == 1)):
        t = 2 * t - 1
    return np.maximum(1 - t * p, 0).mean(-1)


def ref_cosine(t, p, axis=-1):
    def l2n(x):
        return x / np.sqrt(np.maximum((x * x).sum(axis, keepdims=True), EPS * EPS))
    return -(l2n(t) * l2n(p)).sum(axis)


def ref_categorical_hinge(t, p):
    pos = (t * p).sum(-1)
    neg = ((1 - t) * p).max(-1)
    return np.maximum(neg - pos + 1, 0)


def _data(rng, dtype, n=6, k=4):
    probs = rng.uniform(0.05, 1.0, (n, k))
    probs /= probs.sum(-1, keepdims=True)
    logits = rng.standard_normal((n, k)) * 3
    labels = rng.integers(0, k, n)
    soft = rng.uniform(0, 1, (n, k))
    soft /= soft.sum(-1, keepdims=True)
    return {"probs": probs.astype(dtype), "logits": logits.astype(dtype), "labels": labels,
            "onehot": np.eye(k)[labels], "soft": soft, "binary": rng.integers(0, 2, (n, k)),
            "sign": rng.choice([-1.0, 1.0], (n, k)), "real": rng.standard_normal((n, k)),
            "pred": (rng.standard_normal((n, k)) * 2).astype(dtype),
            "pos": rng.uniform(0.1, 3.0, (n, k)), "pospred": rng.uniform(0.1, 3.0, (n, k))
            .astype(dtype)}


CASES = [  # (name, class and kwargs, function, y_true key, y_pred key, reference)
    ("scce_probs", losses.SparseCategoricalCrossentropy, {}, losses.sparse_categorical_crossentropy,
     "labels", "probs", lambda t, p: ref_scce(t, p)),
    ("scce_logits", losses.SparseCategoricalCrossentropy, {"from_logits": True},
     losses.sparse_categorical_crossentropy, "labels", "logits",
     lambda t, p: ref_scce(t, p, True)),
    ("cce_probs", losses.CategoricalCrossentropy, {}, losses.categorical_crossentropy, "soft",
     "probs", lambda t, p: ref_cce(t, p)),
    ("cce_logits_smooth", losses.CategoricalCrossentropy,
     {"from_logits": True, "label_smoothing": 0.2}, losses.categorical_crossentropy, "onehot",
     "logits", lambda t, p: ref_cce(t, p, True, 0.2)),
    ("bce_probs", losses.BinaryCrossentropy, {}, losses.binary_crossentropy, "binary", "probs",
     lambda t, p: ref_bce(t, p)),
    ("bce_logits_smooth", losses.BinaryCrossentropy,
     {"from_logits": True, "label_smoothing": 0.1}, losses.binary_crossentropy, "binary",
     "logits", lambda t, p: ref_bce(t, p, True, 0.1)),
    ("mse", losses.MeanSquaredError, {}, losses.mean_squared_error, "real", "pred",
     lambda t, p: ((t - p) ** 2).mean(-1)),
    ("mae", losses.MeanAbsoluteError, {}, losses.mean_absolute_error, "real", "pred",
     lambda t, p: np.abs(t - p).mean(-1)),
    ("huber", losses.Huber, {"delta": 0.7}, losses.huber, "real", "pred",
     lambda t, p: ref_huber(t, p, 0.7)),
    ("kld", losses.KLDivergence, {}, losses.kl_divergence, "soft", "probs", ref_kld),
    ("hinge_binary", losses.Hinge, {}, losses.hinge, "binary", "pred", ref_hinge),
    ("hinge_sign", losses.Hinge, {}, losses.hinge, "sign", "pred", ref_hinge),
    ("mape", losses.MeanAbsolutePercentageError, {}, losses.mean_absolute_percentage_error,
     "real", "pred", lambda t, p: 100 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)),
    ("msle", losses.MeanSquaredLogarithmicError, {}, losses.mean_squared_logarithmic_error,
     "pos", "pospred", lambda t, p: ((np.log(np.maximum(p, EPS) + 1) -
                                      np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1)),
    ("cosine", losses.CosineSimilarity, {"axis": -1}, losses.cosine_similarity, "real", "pred",
     ref_cosine),
    ("log_cosh", losses.LogCosh, {}, losses.log_cosh, "real", "pred",
     lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    ("poisson", losses.Poisson, {}, losses.poisson, "pos", "pospred",
     lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    ("squared_hinge", losses.SquaredHinge, {}, losses.squared_hinge, "binary", "pred",
     lambda t, p: (np.maximum(1 - np.where(t == 0, -1.0, t) * p, 0) ** 2).mean(-1)),
    ("categorical_hinge", losses.CategoricalHinge, {}, losses.categorical_hinge, "onehot",
     "pred", ref_categorical_hinge),
]
IDS = [c[0] for c in CASES]


def _fn_kwargs(kwargs):
    return kwargs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_loss_matches_keras_formula(case, dtype, rng):
    _, cls, kwargs, fn, tkey, pkey, ref = case
    d = _data(rng, dtype)
    y, p = d[tkey], d[pkey]
    want = ref(y, p.astype(np.float64))
    rtol = 1e-5 if dtype == "float32" else 1e-10
    per_sample = fn(y, mg.Tensor(p), **kwargs)
    assert per_sample.dtype == np.dtype(dtype) and per_sample.shape == (6,)
    np.testing.assert_allclose(per_sample.numpy(), want, rtol=rtol, atol=1e-6)
    loss = cls(**kwargs)
    np.testing.assert_allclose(loss(y, mg.Tensor(p)).item(), want.mean(), rtol=rtol)
    # reductions and sample weights (keras/src/losses/loss.py)
    w = rng.uniform(0, 2, 6)
    np.testing.assert_allclose(loss(y, mg.Tensor(p), sample_weight=w).item(),
                               (want * w).mean(), rtol=rtol)
    np.testing.assert_allclose(cls(reduction="sum", **kwargs)(y, mg.Tensor(p)).item(),
                               want.sum(), rtol=rtol)
    np.testing.assert_allclose(cls(reduction=None, **kwargs)(y, mg.Tensor(p)).numpy(), want,
                               rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(
        cls(reduction="mean_with_sample_weight", **kwargs)(y, mg.Tensor(p), sample_weight=w)
        .item(), (want * w).sum() / w.sum(), rtol=rtol)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_loss_gradcheck_float64(case, rng):
    _, cls, kwargs, _, tkey, pkey, _ = case
    d = _data(rng, "float64")
    y, p = d[tkey], d[pkey]
    if pkey == "pred":  # keep |e| away from the kinks (0 and delta) of MAE/Huber/hinge
        p = p + np.where(np.abs(p - y) < 0.05, 0.2, 0.0)
        p = p + np.where(np.abs(np.abs(p - y) - 0.7) < 0.05, 0.2, 0.0)
        p = p + np.where(np.abs(1 - np.where(y == 0, -1, y) * p) < 0.05, 0.2, 0.0)
    loss = cls(**kwargs)
    x = mg.Tensor(p, requires_grad=True)
    assert gradcheck(lambda q: loss(y, q, sample_weight=np.linspace(0.5, 1.5, 6)), (x,))


def test_keras_docstring_values():
    """The examples in Keras 3's docstrings."""
    assert losses.MeanSquaredError()(np.array([1.0, 0.0, 1.0]),
                                     mg.Tensor(np.array([0.9, 0.1, 0.8]))).item() == \
        pytest.approx(0.02)
    bce = losses.BinaryCrossentropy(from_logits=True)
    y, z = np.array([[0, 1], [0, 0]]), mg.Tensor(np.array([[-18.6, 0.51], [2.94, -12.8]]))
    assert bce(y, z).item() == pytest.approx(0.8654, abs=1e-4)
    assert bce(y, z, sample_weight=[0.8, 0.2]).item() == pytest.approx(0.243, abs=1e-3)
    cce = losses.CategoricalCrossentropy()
    y, p = np.array([[0, 1, 0], [0, 0, 1]]), mg.Tensor(np.array([[0.05, 0.95, 0],
                                                               [0.1, 0.8, 0.1]]))
    assert cce(y, p).item() == pytest.approx(1.177, abs=1e-3)
    assert cce(y, p, sample_weight=np.array([0.3, 0.7])).item() == pytest.approx(0.814, abs=1e-3)
    np.testing.assert_allclose(losses.CategoricalCrossentropy(reduction=None)(y, p).numpy(),
                               [0.0513, 2.303], atol=1e-3)
    assert losses.huber([[0, 1], [0, 0]], mg.Tensor([[0.6, 0.4], [0.4, 0.6]])).numpy().mean() \
        == pytest.approx(0.155)


def test_sparse_ignore_class_averages_over_valid_samples():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4]])
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    got = loss(np.array([0, -1, 2]), mg.Tensor(p)).item()
    assert got == pytest.approx(-(np.log(0.7) + np.log(0.4)) / 2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        loss(np.array([0, -2, 2]), mg.Tensor(p))


def test_fused_kernel_serves_probabilities_and_logits_alike(rng):
    """CCE/SCCE on logits run the fused softmax+cross-entropy kernel, also for
    leading axes beyond the batch (reshaped to rows) and axis != -1 (moved last)."""
    z = rng.standard_normal((3, 5, 4))
    labels = rng.integers(0, 4, (3, 5))
    got = losses.sparse_categorical_crossentropy(labels, mg.Tensor(z), from_logits=True)
    np.testing.assert_allclose(got.numpy(), ref_scce(labels, z, True), rtol=1e-10)
    zt = np.moveaxis(z, -1, 1)  # (3, 4, 5): classes on axis 1
    got = losses.categorical_crossentropy(np.moveaxis(np.eye(4)[labels], -1, 1), mg.Tensor(zt),
                                          from_logits=True, axis=1)
    np.testing.assert_allclose(got.numpy(), ref_scce(labels, z, True), rtol=1e-10)


# ------------------------------------------------------------- custom losses
class CustomMSE(losses.Loss):
    def __init__(self, regularization_factor=0.1, name="custom_mse"):
        super().__init__(name=name)
        self.regularization_factor = regularization_factor

    def call(self, y_true, y_pred):
        mse = ((y_true - y_pred) * (y_true - y_pred)).mean(axis=-1)
        reg = ((0.5 - y_pred) * (0.5 - y_pred)).mean(axis=-1)
        return mse + reg * self.regularization_factor


def test_loss_subclass_with_super_init_name(rng):
    y, p = rng.uniform(0, 1, (5, 3)), rng.uniform(0, 1, (5, 3))
    loss = CustomMSE()
    assert loss.name == "custom_mse" and loss.reduction == "sum_over_batch_size"
    want = ((y - p) ** 2).mean(-1) + 0.1 * ((0.5 - p) ** 2).mean(-1)
    assert loss(y, mg.Tensor(p)).item() == pytest.approx(want.mean())
    assert loss.get_config() == {"name": "custom_mse", "reduction": "sum_over_batch_size"}
    x = mg.Tensor(p, requires_grad=True)
    assert gradcheck(lambda q: loss(y, q), (x,))


def test_function_wrapper_and_scalar_result(rng):
    y, p = rng.uniform(0, 1, (5, 3)), rng.uniform(0, 1, (5, 3))

    def scalar_mse(y_true, y_pred):
        return ((y_true - y_pred) * (y_true - y_pred)).mean()

    wrapped = losses.LossFunctionWrapper(scalar_mse)
    assert wrapped.name == "scalar_mse"
    assert wrapped(y, mg.Tensor(p)).item() == pytest.approx(((y - p) ** 2).mean())


def test_loss_returning_wrong_shape_or_numpy_is_a_clear_error(rng):
    y, p = rng.uniform(0, 1, (5, 3)), mg.Tensor(rng.uniform(0, 1, (5, 3)))
    with pytest.raises(ValueError, match=r"returned values of shape \(3,\) for predictions of "
                                         r"shape \(5, 3\); expected a scalar or one loss per"):
        losses.LossFunctionWrapper(lambda t, q: (t - q).mean(axis=0), name="bad")(y, p)
    with pytest.raises(TypeError, match="returned float64, expected a Tensor"):
        losses.LossFunctionWrapper(lambda t, q: np.mean(q.numpy()), name="np")(y, p)


def test_sample_weight_mismatch_is_a_clear_error(rng):
    y, p = rng.integers(0, 3, 4), mg.Tensor(rng.uniform(0.1, 1, (4, 3)))
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not fit the "
                                         r"losses of shape \(4,\)"):
        losses.SparseCategoricalCrossentropy()(y, p, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        losses.SparseCategoricalCrossentropy()(y, p, sample_weight=[1, np.nan, 1, 1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match=r"`label_smoothing` must be a float in \[0, 1\]"):
        losses.BinaryCrossentropy(label_smoothing=2)


# ------------------------------------------------------- identifiers, config
def test_get_resolves_names_as_keras():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("categorical_crossentropy") is losses.categorical_crossentropy
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    assert losses.get("bce") is losses.binary_crossentropy
    assert losses.get(None) is None
    obj = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(obj, losses.CategoricalCrossentropy) and obj.from_logits
    fn = lambda t, p: p.sum()  # noqa: E731
    assert losses.get(fn) is fn
    with pytest.raises(ValueError, match="Could not interpret loss identifier: 'msee'"):
        losses.get("msee")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(case):
    cls, kwargs = case[1], case[2]
    loss = cls(reduction="sum", **kwargs)
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is cls and again.get_config() == loss.get_config()
    assert again.reduction == "sum"

"""Property-based tests: every op against a float64 NumPy reference, for random
shapes, kernel sizes, strides, paddings, dilations and batch sizes.

The references below are written from the definitions (TensorFlow's 'same'
padding, first-max-wins pooling), independently of minigrad's kernels.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import layers as L

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-9, 1e-11


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------- references
def ref_geometry(n, k, s, d, padding):
    """(out, pad_before, pad_after) from TensorFlow's definition."""
    k_eff = d * (k - 1) + 1
    if padding == "valid":
        return (n - k_eff) // s + 1, 0, 0
    out = math.ceil(n / s)
    total = max((out - 1) * s + k_eff - n, 0)
    return out, total // 2, total - total // 2


def ref_conv2d(x, w, b, s, d, padding):
    """Returns (y, backward(g) -> (gx, gw, gb)) in float64."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, pt, pb = ref_geometry(h, kh, s[0], d[0], padding)
    ow, pl, pr = ref_geometry(wd, kw, s[1], d[1], padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))

    def window(p, q):
        r0, c0 = p * d[0], q * d[1]
        return (slice(None), slice(r0, r0 + s[0] * (oh - 1) + 1, s[0]),
                slice(c0, c0 + s[1] * (ow - 1) + 1, s[1]), slice(None))

    y = np.zeros((n, oh, ow, f))
    for p in range(kh):
        for q in range(kw):
            y += xp[window(p, q)] @ w[p, q]
    if b is not None:
        y += b

    def backward(g):
        gxp, gw = np.zeros_like(xp), np.zeros_like(w)
        for p in range(kh):
            for q in range(kw):
                gxp[window(p, q)] += g @ w[p, q].T
                gw[p, q] = np.einsum("nijc,nijf->cf", xp[window(p, q)], g)
        gx = gxp[:, pt:pt + h, pl:pl + wd, :]
        return gx, gw, g.sum(axis=(0, 1, 2))

    return y, backward


def ref_max_pool2d(x, k, s, padding):
    n, h, w, c = x.shape
    oh, pt, _ = ref_geometry(h, k[0], s[0], 1, padding)
    ow, pl, _ = ref_geometry(w, k[1], s[1], 1, padding)
    y = np.full((n, oh, ow, c), -np.inf)
    winner = np.zeros((n, oh, ow, c, 2), int)
    for i in range(oh):
        for j in range(ow):
            for p in range(k[0]):          # row-major: the first maximum wins
                for q in range(k[1]):
                    r, cc = i * s[0] - pt + p, j * s[1] - pl + q
                    if not (0 <= r < h and 0 <= cc < w):
                        continue           # padding never wins
                    v = x[:, r, cc, :]
                    better = v > y[:, i, j, :]
                    y[:, i, j, :] = np.where(better, v, y[:, i, j, :])
                    winner[:, i, j, :, 0] = np.where(better, r, winner[:, i, j, :, 0])
                    winner[:, i, j, :, 1] = np.where(better, cc, winner[:, i, j, :, 1])

    def backward(g):
        gx = np.zeros_like(x)
        for b in range(n):
            for i in range(oh):
                for j in range(ow):
                    for ch in range(c):
                        r, cc = winner[b, i, j, ch]
                        gx[b, r, cc, ch] += g[b, i, j, ch]
        return gx

    return y, backward


def ref_log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def t64(a, grad=True):
    return mg.Tensor(np.asarray(a, np.float64), requires_grad=grad)


def backward_with(out, g):
    """Backpropagate an upstream gradient g: the gradient of sum(out * g)."""
    (out * mg.Tensor(g)).sum().backward()


# ---------------------------------------------------------------- conv2d
@st.composite
def conv_case(draw):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    use_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31))
    return n, h, w, c, f, (kh, kw), s, d, padding, use_bias, seed


@SETTINGS
@given(conv_case())
def test_conv2d_matches_reference(case):
    n, h, w, c, f, (kh, kw), s, d, padding, use_bias, seed = case
    assume(ref_geometry(h, kh, s[0], d[0], padding)[0] >= 1)
    assume(ref_geometry(w, kw, s[1], d[1], padding)[0] >= 1)
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((n, h, w, c)), rng.standard_normal((kh, kw, c, f))
    b = rng.standard_normal(f) if use_bias else None
    xt, kt = t64(x), t64(k)
    bt = None if b is None else t64(b)
    y = mg.ops.conv2d(xt, kt, bt, stride=s, padding=padding, dilation=d)
    ref_y, ref_back = ref_conv2d(x, k, b, s, d, padding)
    assert y.shape == ref_y.shape
    close(y.numpy(), ref_y)
    g = rng.standard_normal(ref_y.shape)
    backward_with(y, g)
    gx, gw, gb = ref_back(g)
    close(xt.grad.numpy(), gx)
    close(kt.grad.numpy(), gw)
    if use_bias:
        close(bt.grad.numpy(), gb)


# ------------------------------------------------------------- max pool
@SETTINGS
@given(n=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 3),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       padding=st.sampled_from(["valid", "same"]), seed=st.integers(0, 2**31),
       ties=st.booleans())
def test_max_pool2d_matches_reference(n, h, w, c, k, s, padding, seed, ties):
    stride = k if s is None else s
    assume(ref_geometry(h, k[0], stride[0], 1, padding)[0] >= 1)
    assume(ref_geometry(w, k[1], stride[1], 1, padding)[0] >= 1)
    rng = np.random.default_rng(seed)
    # with ties: few distinct values, so the first-max rule is exercised
    x = rng.integers(-2, 3, (n, h, w, c)).astype(np.float64) if ties else \
        rng.standard_normal((n, h, w, c))
    xt = t64(x)
    y = mg.ops.max_pool2d(xt, k, s, padding)
    ref_y, ref_back = ref_max_pool2d(x, k, stride, padding)
    assert y.shape == ref_y.shape
    close(y.numpy(), ref_y)
    g = rng.standard_normal(ref_y.shape)
    backward_with(y, g)
    close(xt.grad.numpy(), ref_back(g))


# ----------------------------------------------------------------- dense
@SETTINGS
@given(n=st.integers(1, 16), i=st.integers(1, 12), u=st.integers(1, 12),
       use_bias=st.booleans(), seed=st.integers(0, 2**31))
def test_dense_matches_reference(n, i, u, use_bias, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((n, i)), rng.standard_normal((i, u)), rng.standard_normal(u)
    xt, wt, bt = t64(x), t64(w), t64(b) if use_bias else None
    y = mg.ops.dense(xt, wt, bt)
    close(y.numpy(), x @ w + (b if use_bias else 0))
    g = rng.standard_normal((n, u))
    backward_with(y, g)
    close(xt.grad.numpy(), g @ w.T)
    close(wt.grad.numpy(), x.T @ g)
    if use_bias:
        close(bt.grad.numpy(), g.sum(0))


# -------------------------------------------------- softmax / log_softmax
@SETTINGS
@given(rows=st.integers(1, 8), k=st.integers(1, 12), scale=st.sampled_from([1.0, 30.0, 1e4]),
       seed=st.integers(0, 2**31), axis=st.sampled_from([-1, 0]))
def test_softmax_and_log_softmax_match_reference(rows, k, scale, seed, axis):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((rows, k)) * scale
    g = rng.standard_normal((rows, k))
    zr = z if axis == -1 else z.T          # the reference works on the last axis
    gr = g if axis == -1 else g.T
    ls = ref_log_softmax(zr)
    sm = np.exp(ls)
    ref_grad_sm = sm * (gr - (gr * sm).sum(-1, keepdims=True))
    ref_grad_ls = gr - sm * gr.sum(-1, keepdims=True)
    back = (lambda a: a) if axis == -1 else (lambda a: a.T)
    for fn, ref_y, ref_g in ((mg.ops.softmax, sm, ref_grad_sm),
                             (mg.ops.log_softmax, ls, ref_grad_ls)):
        zt = t64(z)
        y = fn(zt, axis=axis)
        assert np.isfinite(y.numpy()).all()
        close(y.numpy(), back(ref_y))
        backward_with(y, g)
        close(zt.grad.numpy(), back(ref_g))


# --------------------------------------------------- softmax cross-entropy
@SETTINGS
@given(n=st.integers(1, 16), k=st.integers(2, 10), scale=st.sampled_from([1.0, 100.0, 1e4]),
       sparse=st.booleans(), seed=st.integers(0, 2**31))
def test_softmax_cross_entropy_matches_reference(n, k, scale, sparse, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * scale
    labels = rng.integers(0, k, n)
    target = np.eye(k)[labels] if sparse else rng.dirichlet(np.ones(k), n)
    zt = t64(z)
    loss = mg.ops.softmax_cross_entropy(zt, labels if sparse else target, sparse=sparse)
    ls = ref_log_softmax(z)
    ref = -(target * ls).sum(-1).mean()
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), ref, rtol=RTOL, atol=ATOL * max(scale, 1))
    loss.backward()
    close(zt.grad.numpy(), (np.exp(ls) - target) / n)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy",
                                  "categorical_crossentropy"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_losses_stay_finite_for_huge_logits(loss, from_logits):
    """±1e4 logits (or the saturated softmax of them) give a finite loss and gradient."""
    rng = np.random.default_rng(0)
    z = rng.choice([-1e4, 1e4], (8, 5)) + rng.standard_normal((8, 5))
    labels = rng.integers(0, 5, 8)
    y_true = labels if loss.startswith("sparse") else np.eye(5, dtype="f4")[labels]
    zt = mg.Tensor(z.astype("f4"), requires_grad=True)
    pred = zt if from_logits else mg.ops.softmax(zt)
    cls = {"sparse_categorical_crossentropy": mg.losses.SparseCategoricalCrossentropy,
           "categorical_crossentropy": mg.losses.CategoricalCrossentropy}[loss]
    value = cls(from_logits=from_logits)(y_true, pred)
    assert np.isfinite(value.item())
    value.backward()
    assert np.isfinite(zt.grad.numpy()).all()
    if from_logits:  # exact: the loss of each row is lse(z) - z[label]
        ref = -ref_log_softmax(z.astype("f4").astype("f8"))[np.arange(8), labels].mean()
        np.testing.assert_allclose(value.item(), ref, rtol=1e-5)


def test_model_with_huge_logits_evaluates_finite():
    model = mg.Sequential([L.Dense(4, activation="softmax", input_shape=(3,),
                                   kernel_initializer=mg.initializers.Constant(
                                       np.array([[1e4, -1e4, 0, 5e3]] * 3)))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.array([[1, 1, 1], [-1, -1, -1], [0.5, 0, 0]], "f4")
    loss = model.evaluate(x, np.array([1, 0, 2]), verbose=0)  # confidently wrong
    assert np.isfinite(loss) and loss > 1000


# ------------------------------------------------ composed model, gradcheck
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(1, 3), s=st.integers(1, 2), d=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same"]), pool=st.integers(1, 2),
       n=st.integers(1, 2), seed=st.integers(0, 2**31))
def test_composed_model_gradcheck(k, s, d, padding, pool, n, seed):
    assume(ref_geometry(5, k, s, d, padding)[0] >= pool)
    mg.random.seed(seed)
    model = mg.Sequential([
        L.Conv2D(2, k, strides=s, dilation_rate=d, padding=padding, activation="tanh",
                 dtype="float64", input_shape=(5, 5, 1)),
        L.MaxPooling2D(pool, dtype="float64"), L.Flatten(dtype="float64"),
        L.Dense(3, activation="softmax", dtype="float64",
                bias_initializer=mg.initializers.Constant(0.1))])
    rng = np.random.default_rng(seed)
    x = mg.Tensor(rng.standard_normal((n, 5, 5, 1)), requires_grad=True)
    labels = rng.integers(0, 3, n)
    loss = mg.losses.SparseCategoricalCrossentropy()
    weights = model.trainable_weights
    assert all(w.dtype == np.float64 for w in weights)
    assert mg.testing.gradcheck(lambda x_, *ws: loss(labels, model(x_)), (x, *weights),
                                atol=1e-6, rtol=1e-4)


def test_fit_on_float64_model_uses_float64():
    """One full-batch SGD step on a float64 Dense model equals the float64 NumPy
    step: targets that float32 would round (1e-9 apart) must not be rounded."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3))
    y = rng.standard_normal((8, 2)) + 1e-9 * rng.standard_normal((8, 2))
    assert not np.array_equal(y.astype(np.float32).astype(np.float64), y)
    mg.random.seed(0)
    model = mg.Sequential([L.Dense(2, dtype="float64", input_shape=(3,))])
    model.compile(optimizer=mg.optimizers.SGD(learning_rate=0.1), loss="mse")
    w0, b0 = model.get_weights()
    assert model.loss.check_targets(y, 2, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(model.loss.check_targets(y, 2, dtype=np.float64), y)

    # autograd's gradient is float64 and equals the NumPy one
    loss = model.loss(y, model(mg.Tensor(x)))
    loss.backward()
    kernel = model.trainable_weights[0]
    g_pred = 2 * (x @ w0 + b0 - y) / y.size
    assert kernel.grad.dtype == np.float64
    np.testing.assert_allclose(kernel.grad.numpy(), x.T @ g_pred, rtol=1e-13)
    for w in model.trainable_weights:
        w.grad = None

    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w1, b1 = model.get_weights()
    assert w1.dtype == b1.dtype == np.float64
    np.testing.assert_allclose(w1, w0 - 0.1 * (x.T @ g_pred), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b1, b0 - 0.1 * g_pred.sum(0), rtol=1e-13, atol=1e-15)
    assert model.predict(x, verbose=0).dtype == np.float64


# -------------------------------------------------------- divergence stops
def test_fit_stops_with_a_message_when_the_loss_diverges():
    mg.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("f4") * 10
    y = rng.standard_normal((64, 1)).astype("f4") * 10
    model = mg.Sequential([L.Dense(8, activation="relu", input_shape=(4,)), L.Dense(1)])
    model.compile(optimizer=mg.optimizers.SGD(learning_rate=1e6), loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=50, batch_size=8, verbose=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("TerminateOnNaN" in m and "training stopped" in m for m in messages), messages
    assert len(history.history["loss"]) < 50
    assert not math.isfinite(history.history["loss"][-1])
    assert model.stop_training and "lower learning rate" in model.stop_reason

"""NaN propagates through every op, on both backends, as in NumPy and PyTorch: an
output is NaN exactly where its reference (NumPy, whose max/sum/exp propagate
NaN) is. And a NaN weight makes the training loss NaN, so TerminateOnNaN stops fit.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers, ops

DEVICES = ["cpu", "cuda"]
R = np.random.default_rng(5)


def tensor(a, device, requires_grad=False):
    return mg.Tensor(np.asarray(a, np.float64), requires_grad=requires_grad, device=device)


def with_nan(shape, where):
    a = R.standard_normal(shape)
    for idx in where:
        a[idx] = np.nan
    return a


def window_max(x, p):
    """NumPy's max over each p x p window (stride p, 'valid'): NaN if any is NaN."""
    n, h, w, c = x.shape
    oh, ow = h // p, w // p
    return x[:, :oh * p, :ow * p].reshape(n, oh, p, ow, p, c).max(axis=(2, 4))


def conv_valid(x, w):
    """NumPy 'valid' cross-correlation: NaN wherever a window holds a NaN."""
    kh, kw = w.shape[:2]
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return sum(np.einsum("nijc,cf->nijf", x[:, p:p + oh, q:q + ow], w[p, q])
               for p in range(kh) for q in range(kw))


def sparsemax_rows(x):
    """NumPy sparsemax of each row (sort-based); a row holding a NaN is all NaN."""
    out = np.full(x.shape, np.nan)
    for r, row in enumerate(x):
        if np.isnan(row).any():
            continue
        srt = np.sort(row)[::-1]
        k = np.arange(1, len(row) + 1)
        kz = k[1 + k * srt > np.cumsum(srt)][-1]
        out[r] = np.maximum(row - (np.cumsum(srt)[kz - 1] - 1) / kz, 0)
    return out


def window_mean(x, p):
    n, h, w, c = x.shape
    return x[:, :h // p * p, :w // p * p].reshape(n, h // p, p, w // p, p, c).mean(axis=(2, 4))


def depthwise_valid(x, w):
    """Each channel with its own (kh, kw) filter: NaN wherever a window holds a NaN."""
    kh, kw = w.shape[:2]
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return sum(x[:, p:p + oh, q:q + ow] * w[p, q, :, 0] for p in range(kh) for q in range(kw))


def transpose_valid(x, w, s):
    """The transposed conv as a scatter: each input pixel adds w * x to its window."""
    kh, kw, f, _ = w.shape
    n, h, wd, _ = x.shape
    out = np.zeros((n, (h - 1) * s + kh, (wd - 1) * s + kw, f))
    for i in range(h):
        for j in range(wd):
            out[:, i * s:i * s + kh, j * s:j * s + kw] += np.einsum("nc,pqfc->npqf", x[:, i, j], w)
    return out


X4 = with_nan((2, 6, 6, 2), [(0, 1, 1, 0), (1, 4, 5, 1)])
W4 = R.standard_normal((3, 3, 2, 3))
B3 = R.standard_normal(3)
X2 = with_nan((4, 5), [(1, 2), (3, 0)])
W2 = R.standard_normal((5, 3))

CASES = {  # name: (minigrad op on Tensors, NumPy reference on arrays, inputs)
    "max_pool2d": (lambda x: ops.max_pool2d(x, 2), lambda x: window_max(x, 2), (X4,)),
    "conv2d_relu": (lambda x, w, b: ops.conv2d(x, w, b, activation="relu"),
                    lambda x, w, b: np.maximum(conv_valid(x, w) + b, 0), (X4, W4, B3)),
    "conv2d_maxpool_relu": (
        lambda x, w, b: ops.conv2d_maxpool(x, w, b, activation="relu", pool_size=2),
        lambda x, w, b: window_max(np.maximum(conv_valid(x, w) + b, 0), 2), (X4, W4, B3)),
    "conv2d_nan_weight": (lambda x, w: ops.conv2d(x, w, activation="relu"),
                          lambda x, w: np.maximum(conv_valid(x, w), 0),
                          (np.nan_to_num(X4), with_nan((3, 3, 2, 3), [(1, 1, 0, 2)]))),
    "dense_relu": (lambda x, w, b: ops.dense(x, w, b, activation="relu"),
                   lambda x, w, b: np.maximum(x @ w + b, 0), (X2, W2, B3)),
    "softmax": (lambda x: ops.softmax(x), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
                (X2,)),
    "log_softmax_axis0": (lambda x: ops.log_softmax(x, axis=0),
                          lambda x: x - np.log(np.exp(x).sum(0, keepdims=True)), (X2,)),
    "sparsemax": (lambda x: ops.activations.sparsemax(x), sparsemax_rows, (X2,)),
    # issue 14's kernels: a NaN spoils exactly what reads it
    "avg_pool2d": (lambda x: ops.avg_pool2d(x, 2), lambda x: window_mean(x, 2), (X4,)),
    "depthwise_conv2d": (lambda x, w: ops.depthwise_conv2d(x, w),
                         lambda x, w: depthwise_valid(x, w), (X4, W4[..., :2, :1])),
    "layer_normalization": (lambda x: ops.layer_normalization(x),
                            lambda x: (x - x.mean(-1, keepdims=True)) /
                            np.sqrt(x.var(-1, keepdims=True) + 1e-3), (X2,)),
    "batch_normalization_training": (
        lambda x: ops.normalization.batch_normalization_training(x, None, None)[0],
        lambda x: (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), (X2,)),
    "conv2d_transpose": (lambda x, w: ops.conv2d_transpose(x, w, strides=2),
                         lambda x, w: transpose_valid(x, w, 2), (X4, W4.transpose(0, 1, 3, 2))),
    "dropout": (lambda x: ops.dropout(x, 0.5, seed=3), lambda x: x * 0, (X2,)),
    "cross_entropy": (lambda z: ops.softmax_cross_entropy(z, np.array([0, 1, 2, 3]), sparse=True),
                      lambda z: np.array(np.nan), (X2,)),  # the batch mean of a NaN row
    "exp_log_clip": (lambda x: (x.exp() + 1).log().clip(-1, 1),
                     lambda x: np.clip(np.log(np.exp(x) + 1), -1, 1), (X2,)),
    "sum_matmul": (lambda x, w: (x @ w).sum(axis=1), lambda x, w: (x @ w).sum(1), (X2, W2)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_nan_propagates(case, device):
    fn, ref, arrays = CASES[case]
    out = fn(*(tensor(a, device) for a in arrays)).numpy()
    expected = np.asarray(ref(*arrays))
    assert np.isnan(expected).any() and (np.isfinite(expected).any() or expected.ndim == 0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    finite = ~np.isnan(expected)
    if case not in ("dropout", "cross_entropy"):  # masks and means compared as NaN only
        np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_relu_passes_the_gradient_at_nan_as_pytorch(device):
    """torch.relu's backward is grad where the output is not <= 0: a NaN output passes it."""
    x = tensor([np.nan, -1.0, 2.0, 0.0], device, requires_grad=True)
    y = ops.relu(x)
    y.backward(np.array([5.0, 6.0, 7.0, 8.0]))
    np.testing.assert_array_equal(y.numpy(), [np.nan, 0, 2, 0])
    np.testing.assert_array_equal(x.grad.numpy(), [5, 0, 7, 0])


@pytest.mark.parametrize("device", DEVICES)
def test_a_nan_weight_makes_the_loss_nan_and_fit_stops(device):
    mg.random.seed(0)
    x = R.standard_normal((16, 6, 6, 1)).astype("float32")
    y = np.arange(16) % 3
    model = mg.Sequential([layers.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)),
                           layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device=device)
    weights = model.get_weights()
    weights[0][1, 1, 0, 0] = np.nan  # one tap of one filter
    model.set_weights(weights)
    batches = []

    class Count(mg.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(logs["loss"])

    with pytest.warns(RuntimeWarning, match="TerminateOnNaN: batch 0 produced loss nan"):
        history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[Count()])
    assert len(batches) == 1 and np.isnan(batches[0])  # stopped at the first batch
    assert "TerminateOnNaN" in model.stop_reason
    assert np.isnan(history.history["loss"][0])
    assert np.isnan(model.predict(x[:2], verbose=0)).all()  # every class of every row

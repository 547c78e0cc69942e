"""Keras's activations beyond the elementwise table's own test (tests/cuda/test_elementwise.py):
the row op sparsemax, glu, relu's options, and PyTorch's functions as a second oracle."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import activations as A
from minigrad.testing import gradcheck


def ref_sparsemax(z):
    """The sort-based definition (Martins & Astudillo 2016, eq. 4), one row at a time."""
    out = np.empty_like(z, dtype=np.float64)
    for r, row in enumerate(z.reshape(-1, z.shape[-1])):
        srt = np.sort(row)[::-1]
        k = np.arange(1, len(row) + 1)
        support = 1 + k * srt > np.cumsum(srt)
        kz = k[support][-1]
        tau = (np.cumsum(srt)[kz - 1] - 1) / kz
        out.reshape(-1, z.shape[-1])[r] = np.maximum(row - tau, 0)
    return out


@pytest.mark.parametrize("shape", [(1, 3), (4, 7), (2, 3, 5), (300, 10)])
def test_sparsemax_is_the_simplex_projection(shape, rng):
    z = (rng.standard_normal(shape) * 2).astype(np.float32)
    y = A.sparsemax(mg.Tensor(z)).numpy()
    np.testing.assert_allclose(y, ref_sparsemax(z.astype(np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    assert (y >= 0).all()


def test_sparsemax_known_values_and_axis():
    y = A.sparsemax(mg.Tensor(np.array([[1.0, 1.2, 1.5], [1.0, 2.0, 3.0]]))).numpy()
    np.testing.assert_allclose(y, [[0.1, 0.3, 0.6], [0, 0, 1]], atol=1e-12)
    z = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(A.sparsemax(mg.Tensor(z), axis=0).numpy(),
                               ref_sparsemax(z.T).T, atol=1e-12)


def test_sparsemax_gradient(rng):
    z = mg.Tensor(rng.standard_normal((3, 6)) * 0.6, requires_grad=True)
    assert (A.sparsemax(z).numpy() > 0).sum(-1).max() > 1  # supports of several entries
    assert gradcheck(lambda z: A.sparsemax(z), (z,))
    assert gradcheck(lambda z: A.sparsemax(z, axis=0), (z,))


def test_glu(rng):
    x = rng.standard_normal((2, 6, 3))
    a, b = x[:, :3], x[:, 3:]
    np.testing.assert_allclose(A.glu(mg.Tensor(x), axis=1).numpy(), a / (1 + np.exp(-b)),
                               rtol=1e-12)
    assert gradcheck(lambda t: A.glu(t), (mg.Tensor(rng.standard_normal((3, 4)),
                                                    requires_grad=True),))
    with pytest.raises(ValueError, match="glu: the size of axis 2 must be even"):
        A.glu(mg.Tensor(x))


def keras_relu(x, negative_slope, max_value, threshold):
    """keras.activations.relu (Keras 3's ReLU.static_call), transcribed to NumPy."""
    if negative_slope and max_value is None and threshold == 0:
        return np.where(x >= 0, x, negative_slope * x)
    negative_part = np.maximum(-x + threshold, 0) if negative_slope else 1
    y = np.where(x > threshold, x, 0) if threshold else np.maximum(x, 0)
    if max_value is not None:
        y = np.clip(y, 0, max_value)
    return y - negative_slope * negative_part if negative_slope else y


@pytest.mark.parametrize("slope,cap,thr", [(0.0, None, 0.0), (0.1, None, 0.0), (0.0, 6.0, 0.0),
                                           (0.0, 2.5, 0.0), (0.2, 2.5, 0.0), (0.0, None, 0.7),
                                           (0.3, 2.0, -0.4), (0.1, None, 0.5)])
def test_relu_options_as_keras(slope, cap, thr):
    x = np.linspace(-3, 3, 25) + 0.013
    y = A.relu(mg.Tensor(x), negative_slope=slope, max_value=cap, threshold=thr)
    np.testing.assert_allclose(y.numpy(), keras_relu(x, slope, cap, thr), atol=1e-12)
    assert gradcheck(lambda t: A.relu(t, slope, cap, thr),
                     (mg.Tensor(x, requires_grad=True),))


@pytest.mark.parametrize("bad,match", [
    (lambda x: A.elu(x, alpha="1"), "elu: `alpha` must be a finite number"),
    (lambda x: A.leaky_relu(x, float("nan")), "leaky_relu: `negative_slope` must be a finite"),
    (lambda x: A.celu(x, 0.0), "celu: `alpha` must not be 0"),
    (lambda x: A.squareplus(x, -1), "squareplus: `b` must be >= 0"),
    (lambda x: A.relu(x, max_value=-1.0), "relu: `max_value` must be None or a number >= 0"),
])
def test_bad_parameters(bad, match):
    with pytest.raises(ValueError, match=match):
        bad(mg.Tensor(np.zeros(3, np.float32)))


def test_every_keras_activation_name():
    """keras.activations.ALL_OBJECTS_DICT's names (Keras 3.15), each resolving."""
    keras_names = {"relu", "leaky_relu", "relu6", "softmax", "celu", "elu", "selu", "softplus",
                   "softsign", "squareplus", "soft_shrink", "sparse_plus", "silu", "gelu",
                   "glu", "tanh", "tanh_shrink", "threshold", "sigmoid", "sparse_sigmoid",
                   "exponential", "hard_sigmoid", "hard_silu", "hard_tanh", "hard_shrink",
                   "linear", "mish", "log_softmax", "log_sigmoid", "sparsemax", "swish",
                   "hard_swish"}
    assert set(A.ACTIVATIONS) == keras_names
    for name in keras_names:
        assert callable(A.get(name))


# ------------------------------------------------------- PyTorch as a second oracle
torch = pytest.importorskip("torch")
F = torch.nn.functional
TORCH = {  # minigrad op: the torch function with the same definition
    "elu": (lambda t: A.elu(t, 0.7), lambda z: F.elu(z, 0.7)),
    "selu": (A.selu, F.selu),
    "celu": (lambda t: A.celu(t, 1.5), lambda z: F.celu(z, 1.5)),
    "softplus": (A.softplus, F.softplus),
    "softsign": (A.softsign, F.softsign),
    "silu": (A.silu, F.silu),
    "mish": (A.mish, F.mish),
    "relu6": (A.relu6, F.relu6),
    "leaky_relu": (A.leaky_relu, lambda z: F.leaky_relu(z, 0.2)),
    "hard_sigmoid": (A.hard_sigmoid, F.hardsigmoid),
    "hard_silu": (A.hard_silu, F.hardswish),
    "hard_tanh": (A.hard_tanh, F.hardtanh),
    "soft_shrink": (A.soft_shrink, F.softshrink),
    "hard_shrink": (A.hard_shrink, F.hardshrink),
    "tanh_shrink": (A.tanh_shrink, F.tanhshrink),
    "log_sigmoid": (A.log_sigmoid, F.logsigmoid),
    "threshold": (lambda t: A.threshold(t, 0.2, -1.0), lambda z: F.threshold(z, 0.2, -1.0)),
    "gelu_tanh": (lambda t: A.gelu(t, approximate=True), lambda z: F.gelu(z, approximate="tanh")),
    "glu": (A.glu, F.glu),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_values_and_gradients_match_pytorch(name, rng):
    ours, theirs = TORCH[name]
    x = (rng.standard_normal((4, 6)) * 3).astype(np.float32)
    g = rng.standard_normal((4, 3) if name == "glu" else (4, 6)).astype(np.float32)
    t = mg.Tensor(x, requires_grad=True)
    y = ours(t)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_relu_layer_takes_keras_options():
    """keras.layers.ReLU(max_value, negative_slope, threshold), and its config."""
    x = (np.linspace(-3, 8, 23) + 0.013).astype(np.float32)[None]
    layer = mg.layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5)
    np.testing.assert_allclose(layer(x).numpy(), keras_relu(x.astype(np.float64), 0.1, 6.0, 0.5),
                               rtol=1e-6, atol=1e-6)
    config = layer.get_config()
    assert (config["max_value"], config["negative_slope"], config["threshold"]) == (6.0, 0.1, 0.5)
    assert type(layer).from_config(config)(x).numpy().tolist() == layer(x).numpy().tolist()
    with pytest.raises(ValueError, match="ReLU: `negative_slope` must be a number >= 0"):
        mg.layers.ReLU(negative_slope=-1)

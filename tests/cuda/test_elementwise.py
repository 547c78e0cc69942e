"""Every elementwise op (backends/bodies.ELEMENTWISE) through its op, on both backends:
values and gradients against NumPy references written independently of the
kernel bodies, central differences in float64, and NaN in, NaN out.

Adding an elementwise op: its row in REFERENCES is its test (docs/architecture.md).
The CPU half runs in the plain suite, the CUDA half under the simulator or a GPU.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import bodies
from minigrad.testing import gradcheck

DEVICES = ["cpu", "cuda"]
erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def gelu_grad(x):  # d/dx x * Phi(x) = Phi(x) + x * phi(x)
    return 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)


def sig(x):
    return 1 / (1 + np.exp(-x))


def between(x, lo, hi):
    return ((x > lo) & (x < hi)) * 1.0


def softplus(x):
    return np.log1p(np.exp(x))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def gelu_tanh_grad(x):  # d/dx, by the product and chain rules
    t = np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x * x)


SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805
ops = mg.ops.activations
REFERENCES = {  # op: (minigrad op, f(x), f'(x)) in NumPy, from Keras 3's definitions
    "relu": (ops.relu, lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "sigmoid": (ops.sigmoid, sig, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (ops.tanh, np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "gelu": (ops.gelu, gelu, gelu_grad),
    "gelu_tanh": (lambda t: ops.gelu(t, approximate=True), gelu_tanh, gelu_tanh_grad),
    "leaky_relu": (lambda t: ops.leaky_relu(t, 0.3), lambda x: np.where(x < 0, 0.3 * x, x),
                   lambda x: np.where(x < 0, 0.3, 1.0)),
    "relu6": (ops.relu6, lambda x: np.clip(x, 0, 6), lambda x: between(x, 0, 6)),
    "hard_sigmoid": (ops.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6,
                     lambda x: between(x, -3, 3) / 6),
    "hard_silu": (ops.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x: np.where(x < -3, 0, np.where(x > 3, 1, (2 * x + 3) / 6))),
    "hard_tanh": (ops.hard_tanh, lambda x: np.clip(x, -1, 1), lambda x: between(x, -1, 1)),
    "sparse_sigmoid": (ops.sparse_sigmoid, lambda x: np.clip((x + 1) / 2, 0, 1),
                       lambda x: between(x, -1, 1) / 2),
    "sparse_plus": (ops.sparse_plus,
                    lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
                    lambda x: np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2))),
    "soft_shrink": (lambda t: ops.soft_shrink(t, 0.7), lambda x: np.sign(x) * np.maximum(
        np.abs(x) - 0.7, 0), lambda x: (np.abs(x) > 0.7) * 1.0),
    "hard_shrink": (lambda t: ops.hard_shrink(t, 0.7), lambda x: np.where(np.abs(x) > 0.7, x, 0),
                    lambda x: (np.abs(x) > 0.7) * 1.0),
    "threshold": (lambda t: ops.threshold(t, 0.3, -2.0), lambda x: np.where(x > 0.3, x, -2.0),
                  lambda x: (x > 0.3) * 1.0),
    "elu": (lambda t: ops.elu(t, 0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)),
            lambda x: np.where(x > 0, 1, 0.5 * np.exp(x))),
    "selu": (ops.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)),
             lambda x: SELU_S * np.where(x > 0, 1, SELU_A * np.exp(x))),
    "celu": (lambda t: ops.celu(t, 2.0), lambda x: np.where(x > 0, x, 2 * (np.exp(x / 2) - 1)),
             lambda x: np.where(x > 0, 1, np.exp(x / 2))),
    "exponential": (ops.exponential, np.exp, np.exp),
    "softplus": (ops.softplus, softplus, sig),
    "log_sigmoid": (ops.log_sigmoid, lambda x: np.log(sig(x)), lambda x: 1 - sig(x)),
    "softsign": (ops.softsign, lambda x: x / (np.abs(x) + 1), lambda x: 1 / (np.abs(x) + 1) ** 2),
    "silu": (ops.silu, lambda x: x * sig(x), lambda x: sig(x) + x * sig(x) * (1 - sig(x))),
    "mish": (ops.mish, lambda x: x * np.tanh(softplus(x)),
             lambda x: np.tanh(softplus(x)) + x * sig(x) / np.cosh(softplus(x)) ** 2),
    "squareplus": (lambda t: ops.squareplus(t, 3.0), lambda x: (x + np.sqrt(x * x + 3)) / 2,
                   lambda x: (1 + x / np.sqrt(x * x + 3)) / 2),
    "tanh_shrink": (ops.tanh_shrink, lambda x: x - np.tanh(x), lambda x: np.tanh(x) ** 2),
}


def inputs(dtype):
    """Values in [-4, 4], none within 0.01 of relu's kink."""
    x = np.linspace(-4, 4, 21).reshape(3, 7) + 0.013
    return x.astype(dtype)


def test_every_elementwise_op_has_a_test():
    assert set(REFERENCES) == set(bodies.ELEMENTWISE)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", sorted(REFERENCES))
def test_elementwise_op(op, dtype, device):
    fn, f, df = REFERENCES[op]
    x = inputs(dtype)
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    t = mg.Tensor(x, requires_grad=True, device=device)
    y = fn(t)
    assert y.device == device and y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), f(x.astype(np.float64)), **tol)
    g = np.cos(np.arange(x.size)).reshape(x.shape).astype(dtype)
    y.backward(g)
    np.testing.assert_allclose(t.grad.numpy(), g * df(x.astype(np.float64)), **tol)
    if dtype == "float64":
        assert gradcheck(fn, (mg.Tensor(x[:, :3], requires_grad=True, device=device),))
    nan = x.copy()
    nan[1, 2] = np.nan
    out = fn(mg.Tensor(nan, device=device)).numpy()
    assert np.isnan(out[1, 2]) and np.isfinite(np.delete(out.ravel(), 9)).all()


@pytest.mark.parametrize("name", ["swish", "hard_swish", "silu", "selu", "mish", "softsign"])
def test_keras_names_and_aliases(name):
    """Keras's names (and its aliases swish = silu, hard_swish = hard_silu) in a layer."""
    layer = mg.layers.Dense(3, activation=name)
    x = np.linspace(-2, 2, 8, dtype="float32").reshape(4, 2)
    key = {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
    assert layer.get_config()["activation"] == key
    y = layer(x).numpy()
    z = x.astype(np.float64) @ layer.get_weights()[0]
    np.testing.assert_allclose(y, REFERENCES[key][1](z), rtol=1e-5, atol=1e-6)


def test_gelu_by_its_keras_name():
    """Keras 3: keras.activations.gelu(x, approximate=False), 'gelu' in a layer."""
    layer = mg.layers.Dense(2, activation="gelu")
    x = np.linspace(-2, 2, 6, dtype="float32").reshape(3, 2)
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, gelu(x.astype(np.float64) @ kernel + bias), rtol=1e-5,
                               atol=1e-6)
    assert layer.get_config()["activation"] == "gelu"

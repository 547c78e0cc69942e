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
ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946  # SELU


def gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def gelu_grad(x):  # d/dx x * Phi(x) = Phi(x) + x * phi(x)
    return 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)


REFERENCES = {  # op: (minigrad op, f(x), f'(x)) in NumPy
    "relu": (mg.ops.relu, lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "sigmoid": (mg.ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)),
                lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (mg.ops.tanh, np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "gelu": (mg.ops.gelu, gelu, gelu_grad),
    "elu": (mg.ops.elu, lambda x: np.where(x > 0, x, np.expm1(x)),
            lambda x: np.where(x > 0, 1.0, np.exp(x))),
    "selu": (mg.ops.selu, lambda x: SCALE * np.where(x > 0, x, ALPHA * np.expm1(x)),
             lambda x: SCALE * np.where(x > 0, 1.0, ALPHA * np.exp(x))),
    "softplus": (mg.ops.softplus, lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
    "softsign": (mg.ops.softsign, lambda x: x / (1 + np.abs(x)),
                 lambda x: 1 / (1 + np.abs(x)) ** 2),
    "silu": (mg.ops.silu, lambda x: x / (1 + np.exp(-x)),
             lambda x: (s := 1 / (1 + np.exp(-x))) * (1 + x * (1 - s))),
    "mish": (mg.ops.mish, lambda x: x * np.tanh(np.logaddexp(0, x)),
             lambda x: (t := np.tanh(np.logaddexp(0, x))) + x / (1 + np.exp(-x)) * (1 - t * t)),
    "hard_sigmoid": (mg.ops.hard_sigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
                     lambda x: np.where(np.abs(x) < 3, 1 / 6, 0.0)),
    "hard_silu": (mg.ops.hard_silu, lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
                  lambda x: np.where(x < -3, 0.0, np.where(x <= 3, x / 3 + 0.5, 1.0))),
    "relu6": (mg.ops.relu6, lambda x: np.clip(x, 0, 6),
              lambda x: ((x > 0) & (x < 6)) * 1.0),
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


def test_gelu_by_its_keras_name():
    """Keras 3: keras.activations.gelu(x, approximate=False), 'gelu' in a layer."""
    layer = mg.layers.Dense(2, activation="gelu")
    x = np.linspace(-2, 2, 6, dtype="float32").reshape(3, 2)
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, gelu(x.astype(np.float64) @ kernel + bias), rtol=1e-5,
                               atol=1e-6)
    assert layer.get_config()["activation"] == "gelu"

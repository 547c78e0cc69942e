"""mg.activations against NumPy transcriptions of Keras 3's formulas
(keras/src/activations/activations.py, keras/src/backend/numpy/nn.py), float64
gradchecks, names as Keras resolves them, and use as a layer's `activation=`."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import activations, layers
from minigrad.testing import gradcheck

ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def ref_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    out = np.where(x > threshold, x, 0.0) if threshold else np.maximum(x, 0)
    if max_value is not None:
        out = np.clip(out, 0, max_value)
    if negative_slope:
        out = out - negative_slope * np.maximum(threshold - x, 0)
    return out


def ref_softplus(x):
    return np.logaddexp(0, x)


REFS = {
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "relu6": lambda x: np.clip(x, 0, 6),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: SCALE * np.where(x > 0, x, ALPHA * (np.exp(x) - 1)),
    "softplus": ref_softplus,
    "softsign": lambda x: x / (np.abs(x) + 1),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "exponential": np.exp,
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hard_silu": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "mish": lambda x: x * np.tanh(ref_softplus(x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "linear": lambda x: x,
    "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True)) /
    np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(REFS))
def test_activation_matches_keras_formula(name, dtype, rng):
    x = (rng.standard_normal((5, 7)) * 4).astype(dtype)
    got = activations.get(name)(mg.Tensor(x))
    got = got.numpy() if isinstance(got, mg.Tensor) else np.asarray(got)
    assert got.dtype == np.dtype(dtype)
    rtol = 2e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, REFS[name](x.astype(np.float64)), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("name", sorted(set(REFS) - {"linear"}))
def test_activation_gradcheck_float64(name, rng):
    x = rng.standard_normal((4, 5)) * 3
    x = x + np.where(np.abs(x) < 0.05, 0.3, 0.0)          # away from the kink at 0
    for kink in (-3.0, 3.0, 6.0):                         # hard_sigmoid's and relu6's
        x = x + np.where(np.abs(x - kink) < 0.05, 0.3, 0.0)
    fn = activations.get(name)
    assert gradcheck(lambda t: fn(t), (mg.Tensor(x, requires_grad=True),))


def test_gradient_at_zero_is_pytorchs(rng):
    """softplus'(0) = 1/2 (sigmoid(0)), as torch.nn.functional.softplus gives."""
    x = mg.Tensor(np.zeros(3), requires_grad=True)
    activations.softplus(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 0.5)


@pytest.mark.parametrize("kwargs", [{"negative_slope": 0.1}, {"max_value": 2.5},
                                    {"threshold": 0.7}, {"negative_slope": 0.3, "threshold": 1.0,
                                                         "max_value": 4.0}])
def test_relu_options_match_keras_formula(kwargs, rng):
    x = rng.standard_normal(50) * 4
    np.testing.assert_allclose(activations.relu(mg.Tensor(x), **kwargs).numpy(),
                               ref_relu(x, **kwargs), rtol=1e-12)


def test_gelu_approximate_matches_keras_formula(rng):
    x = rng.standard_normal(20)
    want = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(activations.gelu(mg.Tensor(x), approximate=True).numpy(), want,
                               rtol=1e-12)


def test_names_resolve_as_keras():
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu
    assert activations.get(None) is activations.linear
    assert activations.serialize(activations.get("leaky_relu")) == "leaky_relu"
    assert activations.deserialize("selu") is activations.selu
    with pytest.raises(ValueError, match="unknown activation 'relu7'"):
        activations.get("relu7")


def test_every_named_activation_works_in_a_layer(rng, fresh_names):
    x = rng.standard_normal((3, 4)).astype("float32")
    for name in sorted(activations.ALL_OBJECTS_DICT):
        if name == "threshold":  # its threshold and default_value have no defaults (Keras too)
            continue
        dense = layers.Dense(2, activation=name)
        out = dense(x)
        want = dense.pre_activation(mg.Tensor(x))
        np.testing.assert_allclose(out.numpy(), activations.get(name)(want).numpy(), rtol=1e-6)
        assert dense.get_config()["activation"] == activations.serialize(activations.get(name))


def test_relu_by_name_is_the_fused_kernel():
    """'relu' resolves to the function Conv2D/Dense fuse into their bias pass."""
    assert layers.Dense(2, activation="relu").activation is activations.relu
    assert layers.Conv2D(2, 3, activation="relu").activation is activations.relu

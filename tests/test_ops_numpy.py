"""mg.ops' keras.ops array functions against NumPy (Keras 3's keras/src/ops/numpy.py
names and results), float64 gradchecks of the differentiable ones, and the
comparison operators; the same on a CUDA device under tests/cuda (parity of the
backend functions behind them: compare, where, argmax, concatenate)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import ops
from minigrad.testing import gradcheck


def t64(a, grad=True):
    return mg.Tensor(np.asarray(a, np.float64), requires_grad=grad)


def test_creation_and_shape():
    assert ops.ones((2, 3)).numpy().tolist() == [[1.0] * 3] * 2
    assert ops.zeros((2,)).dtype == np.float32 and ops.zeros((2,), "float64").dtype == np.float64
    np.testing.assert_array_equal(ops.full((2, 2), 7.0).numpy(), np.full((2, 2), 7.0))
    np.testing.assert_array_equal(ops.eye(3, k=1).numpy(), np.eye(3, k=1))
    np.testing.assert_array_equal(ops.arange(1, 7, 2).numpy(), [1, 3, 5])
    x = mg.Tensor(np.ones((2, 5), "float64"))
    assert ops.zeros_like(x).dtype == np.float64 and ops.shape(x) == (2, 5)
    assert ops.convert_to_tensor([1.0, 2.0], dtype="float64").dtype == np.float64


def test_elementwise_and_reductions_match_numpy(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ta, tb = t64(a, False), t64(b, False)
    checks = {
        "add": (ops.add(ta, tb), a + b), "subtract": (ops.subtract(a, tb), a - b),
        "multiply": (ops.multiply(ta, 2.0), a * 2), "divide": (ops.divide(ta, tb), a / b),
        "square": (ops.square(ta), a ** 2), "sqrt": (ops.sqrt(ops.abs(ta)), np.sqrt(np.abs(a))),
        "exp": (ops.exp(ta), np.exp(a)), "log": (ops.log(ops.abs(ta)), np.log(np.abs(a))),
        "abs": (ops.abs(ta), np.abs(a)), "maximum": (ops.maximum(ta, tb), np.maximum(a, b)),
        "minimum": (ops.minimum(ta, 0.1), np.minimum(a, 0.1)),
        "clip": (ops.clip(ta, -0.5, 0.5), np.clip(a, -0.5, 0.5)), "sign": (ops.sign(ta), np.sign(a)),
        "sum": (ops.sum(ta, axis=0), a.sum(0)), "mean": (ops.mean(ta, axis=-1, keepdims=True),
                                                         a.mean(-1, keepdims=True)),
        "var": (ops.var(ta, axis=1), a.var(1)), "std": (ops.std(ta), a.std()),
        "max": (ops.max(ta, axis=1), a.max(1)), "min": (ops.min(ta), a.min()),
        "matmul": (ops.matmul(ta, tb.T), a @ b.T),
        "matmul_3d": (ops.matmul(t64(rng.standard_normal((2, 3, 4)), False), tb.T), None),
        "transpose": (ops.transpose(ta), a.T), "reshape": (ops.reshape(ta, (4, 3)), a.reshape(4, 3)),
        "expand_dims": (ops.expand_dims(ta, 1), a[:, None]),
        "squeeze": (ops.squeeze(ops.expand_dims(ta, -1)), a),
        "concatenate": (ops.concatenate([ta, tb], axis=1), np.concatenate([a, b], 1)),
        "stack": (ops.stack([ta, tb], axis=-1), np.stack([a, b], -1)),
        "where": (ops.where(ta > 0, ta, tb), np.where(a > 0, a, b)),
    }
    for name, (got, want) in checks.items():
        if want is not None:
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, err_msg=name)
    assert checks["matmul_3d"][0].shape == (2, 3, 3)


def test_nan_propagates_as_numpy():
    x = mg.Tensor(np.array([np.nan, 1.0, -2.0]))
    assert np.isnan(ops.maximum(x, 0.0).numpy()[0]) and np.isnan(ops.abs(x).numpy()[0])
    assert ops.argmax(mg.Tensor(np.array([1.0, np.nan, 3.0]))).item() == 1  # NumPy's rule
    assert (x == x).numpy().tolist() == [False, True, True]


DIFFERENTIABLE = {
    "where": lambda a, b: ops.where(ops.greater(a, 0.0), a * b, b),
    "maximum": lambda a, b: ops.maximum(a, b * 0.5),
    "minimum": lambda a, b: ops.minimum(a, b),
    "max_axis": lambda a, b: ops.max(a * b, axis=1),
    "min_all": lambda a, b: ops.min(a - b),
    "concatenate": lambda a, b: ops.concatenate([a, b * 2.0], axis=0) * ops.concatenate(
        [b, a], axis=0),
    "stack": lambda a, b: ops.stack([a, b], axis=1).sum(axis=1) ** 2,
    "abs_var_std": lambda a, b: ops.abs(a) + ops.var(b, axis=0) + ops.std(a * b),
    "square_sqrt": lambda a, b: ops.sqrt(ops.square(a) + 1.0) * b,
    "matmul_3d": lambda a, b: ops.matmul(ops.reshape(a, (2, 2, 3)), ops.transpose(b)),
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_gradcheck(name, rng):
    a = rng.standard_normal((4, 3))
    b = rng.standard_normal((4, 3)) + 0.3
    a = a + np.where(np.abs(a) < 0.05, 0.2, 0.0)           # off the kinks at 0
    a = a + np.where(np.abs(a - 0.5 * b) < 0.05, 0.2, 0.0)  # and at ties
    assert gradcheck(DIFFERENTIABLE[name], (t64(a), t64(b)))


def test_cast_between_floats_keeps_the_gradient():
    x = t64([1.5, -2.0])
    y = ops.cast(x, "float32")
    assert y.dtype == np.float32
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.numpy().tolist() == [3.0, 3.0]
    assert not ops.cast(x, "int32").requires_grad


def test_comparisons_casts_and_argmax_as_keras():
    """The guide's custom metric: ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")."""
    y_pred = mg.Tensor(np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.2, 0.6]]))
    y_true = np.array([[1], [2], [2]], "float32")
    pred_ids = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
    assert pred_ids.dtype == np.int64 and pred_ids.shape == (3, 1)
    values = ops.cast(y_true, "int32") == ops.cast(pred_ids, "int32")
    assert values.dtype == np.bool_ and values.numpy().ravel().tolist() == [True, False, True]
    assert float(ops.sum(ops.cast(values, "float32"))) == 2.0
    assert ops.argmax(y_pred, axis=1, keepdims=True).shape == (3, 1)
    assert ops.argmin(y_pred, axis=0).numpy().tolist() == [0, 1, 0]
    assert (y_pred > 0.5).numpy().sum() == 3 and (0.5 < y_pred).numpy().sum() == 3
    assert ops.logical_and(y_pred > 0.05, y_pred < 0.5).numpy().sum() == 5
    assert ops.logical_not(y_pred > 0.5).numpy().sum() == 6
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(y_pred > 0.5)
    assert bool(mg.Tensor(1.0) > 0.5)
    assert {y_pred: 1}[y_pred] == 1  # still hashable by identity


def test_one_hot_as_keras(rng):
    labels = np.array([2, 0, 1], "float32")
    np.testing.assert_array_equal(ops.one_hot(labels, num_classes=4).numpy(), np.eye(4)[[2, 0, 1]])
    assert ops.one_hot(np.zeros((2, 3), int), 5).shape == (2, 3, 5)
    assert ops.one_hot(np.array([0, 1]), 3, axis=0).numpy().tolist() == [[1, 0], [0, 1], [0, 0]]


def test_bad_input():
    with pytest.raises(ValueError, match="shapes must match except along axis 0"):
        ops.concatenate([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="axis 1 has size 3, not 1"):
        ops.squeeze(np.ones((2, 3)), axis=1)
    with pytest.raises(TypeError, match="expected a float32 or float64 dtype"):
        ops.zeros((2,), "int32")

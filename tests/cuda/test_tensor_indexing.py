"""Tensor.__getitem__ (ops/indexing.py) on both backends: NumPy's values and shapes, and
the gradient NumPy's np.add.at gives (every indexed element gets its output's gradient,
added once per use), for ints, slices of any step, None, Ellipsis and one integer or
boolean array; then float64 central differences; then the refused keys."""
import numpy as np
import pytest

import minigrad as mg

DEVICES = ["cpu", "cuda"]
A = np.random.default_rng(0).standard_normal((4, 5, 6))
KEYS = {
    "int": 1, "negative int": -1, "two ints": (2, -3), "three ints": (0, 1, 2),
    "slice": (slice(1, 3),), "inner slice": (slice(None), slice(1, 4)),
    "int then all": (slice(None), 2), "ellipsis": (Ellipsis, 0),
    "none": (None, 1, slice(None, None, 2)), "none and ellipsis": (slice(None), None, Ellipsis),
    "step 2": (slice(None, None, 2),), "reversed": (slice(None, None, -1), 3),
    "empty": (slice(2, 1),), "int array": (slice(None), [0, 2, 2]),
    "negative int array": (np.array([3, -4]),),
    "bool mask": (Ellipsis, np.array([True, False, True, False, True, False])),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(KEYS))
def test_values_and_gradients_are_numpys(name, device):
    key = KEYS[name]
    x = mg.Tensor(A, requires_grad=True, device=device)
    y = x[key]
    assert y.shape == A[key].shape
    np.testing.assert_array_equal(y.numpy(), A[key])
    g = np.cos(np.arange(y.size)).reshape(y.shape)
    y.backward(mg.Tensor(g, device=device))
    expected = np.zeros_like(A)
    np.add.at(expected, key, g)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=0, atol=1e-12)


def test_central_differences_through_a_slice_and_a_gather():
    x = mg.Tensor(A[:3, :3, :2], requires_grad=True)
    assert mg.testing.gradcheck(lambda t: (t[1:, ::-2, None] * t[[0, 0]]).sum(), (x,))


def test_a_loop_over_time_steps_as_in_keras_guides():
    """`inputs[:, t, :]` in a layer's call, the keras-io functional guide's CustomRNN."""
    x = mg.Tensor(A, requires_grad=True)
    y = mg.ops.stack([x[:, t, :] * (t + 1) for t in range(A.shape[1])], axis=1)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), A * np.arange(1, 6)[None, :, None])
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(np.arange(1., 6)[None, :, None],
                                                                   A.shape))


@pytest.mark.parametrize("key, error, words", [
    ((0, 0, 0, 0), IndexError, "too many indices"),
    (7, IndexError, "out of bounds for axis 0 with size 4"),
    ((slice(None), [0, 9]), IndexError, "index 9 is out of bounds for axis 1"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
    ("a", TypeError, "got str"),
    (1.5, TypeError, "got float"),
    (([0], [1]), TypeError, "at most one integer-array"),
    ((np.ones((2, 2), int),), TypeError, "1-D integers or booleans"),
    ((np.array([True, False]),), IndexError, "must have shape (4,)"),
])
def test_refused_keys_name_the_problem(key, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        mg.Tensor(A)[key]

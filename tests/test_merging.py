"""Merge layers against NumPy, their gradients against finite differences (float64),
and their functional forms."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers
from minigrad.testing import gradcheck

R = np.random.default_rng(11)


def t64(*shape):
    return mg.Tensor(R.standard_normal(shape), requires_grad=True)


LAYERS = [
    (layers.Add, lambda a, b, c: a + b + c, 3),
    (layers.Subtract, lambda a, b: a - b, 2),
    (layers.Multiply, lambda a, b, c: a * b * c, 3),
    (layers.Average, lambda a, b, c: (a + b + c) / 3, 3),
    (layers.Maximum, lambda a, b, c: np.maximum(np.maximum(a, b), c), 3),
    (layers.Minimum, lambda a, b: np.minimum(a, b), 2),
]


@pytest.mark.parametrize("cls,reference,n", LAYERS, ids=[c[0].__name__ for c in LAYERS])
def test_merge_layers_match_numpy_and_gradcheck(cls, reference, n):
    shapes = [(4, 3)] * (n - 1) + [(4, 1)]     # the last broadcasts along the features
    arrays = [R.standard_normal(s).astype("f4") for s in shapes]
    layer = cls(dtype="float64")
    out = cls()(arrays)
    np.testing.assert_allclose(out.numpy(), reference(*arrays), rtol=1e-6, atol=1e-6)
    inputs = tuple(t64(*s) for s in shapes)
    assert gradcheck(lambda *xs: layer(list(xs)), inputs)


def test_maximum_gradient_goes_to_the_larger_input_ties_to_the_first():
    a = mg.Tensor(np.array([1.0, 5.0, 2.0]), requires_grad=True)
    b = mg.Tensor(np.array([3.0, 4.0, 2.0]), requires_grad=True)
    mg.ops.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0, 1, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [1, 0, 0])
    assert np.isnan(mg.ops.maximum(mg.Tensor([np.nan, 1.0]), mg.Tensor([0.0, 2.0])).numpy()[0])


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_concatenate_matches_numpy_and_gradcheck(axis):
    shapes = {-1: [(2, 3, 1), (2, 3, 4)], 1: [(2, 1, 2), (2, 3, 2), (2, 2, 2)],
              0: [(1, 3), (2, 3)]}[axis]
    arrays = [R.standard_normal(s).astype("f4") for s in shapes]
    out = layers.Concatenate(axis=axis)(arrays)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=axis))
    layer = layers.Concatenate(axis=axis, dtype="float64")
    assert gradcheck(lambda *xs: layer(list(xs)), tuple(t64(*s) for s in shapes))


def test_functional_forms_and_symbolic_shapes():
    a, b = mg.Input((4,)), mg.Input((1,))
    assert layers.add([a, b]).shape == (None, 4)
    assert layers.subtract([a, a]).shape == (None, 4)
    assert layers.multiply([a, b]).shape == (None, 4)
    assert layers.average([a, a, a]).shape == (None, 4)
    assert layers.maximum([a, b]).shape == layers.minimum([a, b]).shape == (None, 4)
    assert layers.concatenate([a, b]).shape == (None, 5)
    assert layers.concatenate([mg.Input((2, 3)), mg.Input((2, 5))], axis=-1).shape == \
        (None, 2, 8)
    assert layers.concatenate([mg.Input((None, 3)), mg.Input((4, 3))], axis=1).shape == \
        (None, None, 3)
    assert layers.Concatenate(axis=2).get_config()["axis"] == 2
    x = [np.ones((2, 4), "f4"), np.full((2, 1), 2.0, "f4")]
    np.testing.assert_array_equal(layers.multiply(x).numpy(), np.full((2, 4), 2.0))


def test_merge_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"'m'.*incompatible shapes.*\(3,\).*\(5,\)"):
        layers.Maximum(name="m")([np.ones((2, 3), "f4"), np.ones((2, 5), "f4")])
    with pytest.raises(ValueError, match="different batch sizes"):
        layers.add([mg.Input((3,), batch_size=2), mg.Input((3,), batch_size=4)])
    with pytest.raises(ValueError, match="concatenation axis"):
        layers.Concatenate(axis=1)([np.ones((2, 3, 2), "f4"), np.ones((2, 4, 3), "f4")])
    with pytest.raises(TypeError, match="`axis` must be an int"):
        layers.Concatenate(axis="last")

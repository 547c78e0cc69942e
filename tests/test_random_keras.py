"""keras.random's functions as Keras 3 has them (keras/src/random/random.py): normal,
uniform, dropout and SeedGenerator, with Keras's seed rule (an int repeats, a
SeedGenerator advances, None draws from minigrad's generator)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers, ops


def values(t):
    return np.asarray(t.numpy())


def test_normal_and_uniform_shapes_dtypes_and_moments():
    x = mg.random.normal((400, 50), mean=2.0, stddev=3.0, seed=1)
    assert isinstance(x, mg.Tensor) and x.shape == (400, 50) and x.dtype == "float32"
    assert values(x).mean() == pytest.approx(2.0, abs=0.1)
    assert values(x).std() == pytest.approx(3.0, rel=0.03)
    u = mg.random.uniform((400, 50), minval=-1.0, maxval=0.5, dtype="float64", seed=2)
    assert u.dtype == "float64"
    assert values(u).min() >= -1.0 and values(u).max() < 0.5
    assert values(u).mean() == pytest.approx(-0.25, abs=0.02)


def test_keras_seed_rule():
    # an int seed: the same values on every call
    np.testing.assert_array_equal(values(mg.random.normal((3, 4), seed=7)),
                                  values(mg.random.normal((3, 4), seed=7)))
    # a SeedGenerator: new values on each call, the same sequence for the same seed
    a, b = mg.random.SeedGenerator(1337), mg.random.SeedGenerator(1337)
    first = values(mg.random.normal((3, 4), seed=a))
    second = values(mg.random.normal((3, 4), seed=a))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, values(mg.random.normal((3, 4), seed=b)))
    # None: minigrad's generator, repeatable after mg.random.seed
    mg.random.seed(5)
    one = values(mg.random.uniform((5,)))
    mg.random.seed(5)
    np.testing.assert_array_equal(one, values(mg.random.uniform((5,))))
    assert not np.array_equal(one, values(mg.random.uniform((5,))))


def test_dropout_scales_survivors_and_is_differentiable():
    x = mg.Tensor(np.ones((200, 100), "float32"), requires_grad=True)
    y = mg.random.dropout(x, 0.25, seed=mg.random.SeedGenerator(3))
    out = values(y)
    kept = out != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.02)
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(values(x.grad), out, rtol=1e-6)


def test_dropout_noise_shape_shares_the_draw_along_axes_of_one():
    x = mg.Tensor(np.ones((8, 5, 6), "float32"), requires_grad=True)
    y = values(mg.random.dropout(x, 0.5, noise_shape=(None, 1, 6), seed=4))
    assert (y == y[:, :1, :]).all()            # the same along axis 1
    assert 0 < (y == 0).mean() < 1
    assert set(np.unique(y)) == {0.0, 2.0}     # the kept ones scaled by 1 / (1 - rate)


@pytest.mark.parametrize("call, error, match", [
    (lambda: mg.random.normal((2, -1)), ValueError, r"random.normal: `shape` must be"),
    (lambda: mg.random.normal((2,), dtype="int32"), TypeError, r"`dtype` must be float32"),
    (lambda: mg.random.uniform((2,), seed=-1), ValueError, r"random.uniform: `seed` must be"),
    (lambda: mg.random.uniform((2,), seed="a"), ValueError, r"SeedGenerator, got 'a'"),
    (lambda: mg.random.dropout(np.ones((2, 3), "f4"), 1.0), ValueError,
     r"random.dropout: `rate` must be a float in \[0, 1\), got 1.0"),
    (lambda: mg.random.dropout(np.ones((2, 3), "f4"), 0.5, noise_shape=(2, 2)), ValueError,
     r"`noise_shape` \(2, 2\) must have one entry per axis of the input of shape \(2, 3\)"),
    (lambda: mg.random.SeedGenerator(-3), ValueError, r"SeedGenerator: `seed` must be"),
    (lambda: mg.random.SeedGenerator(1, foo=2), TypeError, r"unexpected keyword"),
])
def test_bad_arguments_are_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_layer_keeping_a_seed_generator_as_keras_scripts_do():
    """The common Keras pattern: a SeedGenerator made in __init__, drawn from in call."""
    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = mg.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
            epsilon = mg.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    sampling = Sampling()
    z = np.zeros((4, 3), "float32")
    a, b = values(sampling((z, z))), values(sampling((z, z)))
    assert a.shape == (4, 3) and not np.array_equal(a, b)
    assert sampling.weights == []

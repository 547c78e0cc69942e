"""Initializers, regularizers, schedules and keras.utils helpers against NumPy
transcriptions of Keras 3's formulas (keras/src/initializers, regularizers,
optimizers/schedules, utils/numerical_utils.py)."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import initializers, regularizers
from minigrad.optimizers import schedules
from minigrad.testing import gradcheck

SHAPE = (3, 3, 4, 8)            # a Conv2D kernel: fan_in 36, fan_out 72
FAN_IN, FAN_OUT = 36, 72


def truncated(rng, shape):
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out


REFERENCES = {  # name -> (initializer, reference from a fresh generator of the same seed)
    "he_normal": (initializers.HeNormal,
                  lambda r: truncated(r, SHAPE) * math.sqrt(2 / FAN_IN) / 0.87962566103423978),
    "he_uniform": (initializers.HeUniform,
                   lambda r: r.uniform(-math.sqrt(6 / FAN_IN), math.sqrt(6 / FAN_IN), SHAPE)),
    "lecun_normal": (initializers.LecunNormal,
                     lambda r: truncated(r, SHAPE) * math.sqrt(1 / FAN_IN) / 0.87962566103423978),
    "lecun_uniform": (initializers.LecunUniform,
                      lambda r: r.uniform(-math.sqrt(3 / FAN_IN), math.sqrt(3 / FAN_IN), SHAPE)),
    "glorot_normal": (initializers.GlorotNormal,
                      lambda r: truncated(r, SHAPE) * math.sqrt(2 / (FAN_IN + FAN_OUT)) /
                      0.87962566103423978),
    "glorot_uniform": (initializers.GlorotUniform,
                       lambda r: r.uniform(-math.sqrt(6 / (FAN_IN + FAN_OUT)),
                                           math.sqrt(6 / (FAN_IN + FAN_OUT)), SHAPE)),
    "random_normal": (initializers.RandomNormal, lambda r: 0.05 * r.standard_normal(SHAPE)),
    "random_uniform": (initializers.RandomUniform, lambda r: r.uniform(-0.05, 0.05, SHAPE)),
    "truncated_normal": (initializers.TruncatedNormal, lambda r: 0.05 * truncated(r, SHAPE)),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_initializer_matches_keras_formula(name):
    cls, ref = REFERENCES[name]
    got = cls(seed=7)(SHAPE, "float64")
    np.testing.assert_allclose(got, ref(np.random.default_rng(7)), rtol=1e-12)
    np.testing.assert_array_equal(cls(seed=7)(SHAPE), got.astype("float32"))  # seeded: repeats
    assert isinstance(initializers.get(name), cls)
    again = initializers.deserialize(initializers.serialize(cls(seed=3)))
    assert type(again) is cls and again.get_config() == cls(seed=3).get_config()


def test_unseeded_initializers_draw_from_minigrads_generator():
    mg.random.seed(11)
    a = initializers.HeUniform()(SHAPE)
    mg.random.seed(11)
    b = initializers.HeUniform()(SHAPE)
    c = initializers.HeUniform()(SHAPE)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_variance_scaling_modes_and_distributions():
    for mode, fan in (("fan_in", FAN_IN), ("fan_out", FAN_OUT),
                      ("fan_avg", (FAN_IN + FAN_OUT) / 2)):
        got = initializers.VarianceScaling(2.0, mode, "untruncated_normal", seed=1)(
            SHAPE, "float64")
        want = np.random.default_rng(1).standard_normal(SHAPE) * math.sqrt(2.0 / fan)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="Invalid `mode` argument"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="`scale` must be positive"):
        initializers.VarianceScaling(scale=0)


def test_orthogonal_and_identity():
    q = initializers.Orthogonal(gain=2.0, seed=0)((6, 4), "float64")
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(4), atol=1e-12)
    a = np.random.default_rng(0).standard_normal((6, 4))
    ref_q, ref_r = np.linalg.qr(a)
    np.testing.assert_allclose(q, 2 * ref_q * np.sign(np.diag(ref_r)), rtol=1e-12)
    wide = initializers.Orthogonal(seed=0)((3, 5), "float64")
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(initializers.get("identity")((3, 3)), np.eye(3))
    with pytest.raises(ValueError, match="at least two-dimensional"):
        initializers.Orthogonal()((4,))


def test_initializer_get_takes_callables_and_rejects_unknown_names():
    fn = lambda shape, dtype: np.full(shape, 2.0, dtype)  # noqa: E731
    assert initializers.get(fn) is fn
    layer = mg.layers.Dense(2, kernel_initializer=fn)
    layer(np.zeros((1, 3), "float32"))
    np.testing.assert_array_equal(layer.kernel.numpy(), 2.0)
    with pytest.raises(ValueError, match="unknown initializer 'he_norml'"):
        initializers.get("he_norml")


# -------------------------------------------------------------- regularizers
@pytest.mark.parametrize("reg,ref", [
    (regularizers.L1(), lambda w: 0.01 * np.abs(w).sum()),
    (regularizers.L2(0.3), lambda w: 0.3 * (w ** 2).sum()),
    (regularizers.L1L2(l1=0.2, l2=0.1), lambda w: 0.2 * np.abs(w).sum() + 0.1 * (w ** 2).sum()),
    (regularizers.get("l2"), lambda w: 0.01 * (w ** 2).sum()),
    (regularizers.get("l1_l2"), lambda w: 0.0 * w.sum()),
])
def test_regularizers_match_keras_formula(reg, ref, rng):
    w = rng.standard_normal((4, 3))
    w = w + np.where(np.abs(w) < 0.05, 0.2, 0.0)
    t = mg.Tensor(w, requires_grad=True)
    value = reg(t)
    assert value.shape == () and value.item() == pytest.approx(ref(w), rel=1e-12, abs=1e-15)
    assert gradcheck(lambda x: reg(x), (t,))
    again = regularizers.deserialize(regularizers.serialize(reg))
    assert type(again) is type(reg) and again.get_config() == reg.get_config()


def test_regularizer_bad_arguments():
    with pytest.raises(ValueError, match="expected a non-negative float"):
        regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier"):
        regularizers.get("l3")


# ------------------------------------------------------------------- utils
def test_to_categorical_and_normalize():
    np.testing.assert_array_equal(mg.utils.to_categorical([0, 2, 1, 2]),
                                  np.eye(3)[[0, 2, 1, 2]])
    out = mg.utils.to_categorical(np.array([[1], [0]]), num_classes=4)
    assert out.shape == (2, 4) and out.dtype == np.float64
    assert mg.utils.to_categorical(np.zeros((2, 3), int), 2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="out of range for num_classes=2"):
        mg.utils.to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="integer class ids"):
        mg.utils.to_categorical([0.5, 1])
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(mg.utils.normalize(x), [[0.6, 0.8], [0, 0]])
    np.testing.assert_allclose(mg.utils.normalize(x, axis=0, order=1),
                               x / np.abs(x).sum(0))


def test_set_random_seed_repeats_everything_random():
    mg.utils.set_random_seed(5)
    a = (mg.random.generator().random(), np.random.random())
    mg.utils.set_random_seed(5)
    assert (mg.random.generator().random(), np.random.random()) == a
    with pytest.raises(ValueError, match="Expected `seed` argument to be an integer"):
        mg.utils.set_random_seed(1.5)


# --------------------------------------------------------------- schedules
def _ref_schedule(name, step):  # Keras 3's formulas, written out
    if name == "exp":
        return 0.1 * 0.96 ** (step / 10)
    if name == "exp_stair":
        return 0.1 * 0.96 ** math.floor(step / 10)
    if name == "piecewise":
        return 1.0 if step <= 5 else 0.5 if step <= 12 else 0.1
    if name == "poly":
        s = min(step, 20)
        return (0.1 - 0.01) * (1 - s / 20) ** 0.5 + 0.01
    if name == "poly_cycle":
        d = 20 * (1 if step == 0 else math.ceil(step / 20))
        return (0.1 - 0.0001) * (1 - step / d) + 0.0001
    if name == "inverse":
        return 0.1 / (1 + 0.5 * step / 4)
    if name == "inverse_stair":
        return 0.1 / (1 + 0.5 * math.floor(step / 4))
    if name == "cosine":
        s = min(step, 30)
        return 0.1 * ((1 - 0.1) * 0.5 * (1 + math.cos(math.pi * s / 30)) + 0.1)
    if name == "cosine_warmup":
        s = min(step, 30 + 8)
        if s < 8:
            return (1.0 - 0.0) * s / 8 + 0.0
        return 1.0 * 0.5 * (1 + math.cos(math.pi * (s - 8) / 30))


SCHEDULES = {
    "exp": schedules.ExponentialDecay(0.1, 10, 0.96),
    "exp_stair": schedules.ExponentialDecay(0.1, 10, 0.96, staircase=True),
    "piecewise": schedules.PiecewiseConstantDecay([5, 12], [1.0, 0.5, 0.1]),
    "poly": schedules.PolynomialDecay(0.1, 20, 0.01, power=0.5),
    "poly_cycle": schedules.PolynomialDecay(0.1, 20, cycle=True),
    "inverse": schedules.InverseTimeDecay(0.1, 4, 0.5),
    "inverse_stair": schedules.InverseTimeDecay(0.1, 4, 0.5, staircase=True),
    "cosine": schedules.CosineDecay(0.1, 30, alpha=0.1),
    "cosine_warmup": schedules.CosineDecay(0.0, 30, warmup_target=1.0, warmup_steps=8),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_keras_formula(name):
    schedule = SCHEDULES[name]
    for step in range(0, 60):
        assert schedule(step) == pytest.approx(_ref_schedule(name, step), rel=1e-12, abs=1e-15)
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="`decay_steps` must be > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="boundaries should be 1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])

    class Vector(schedules.LearningRateSchedule):
        def __call__(self, step):
            return np.array([0.1, 0.2])

    with pytest.raises(ValueError, match=r"returned array\(\[0.1, 0.2\]\) \(shape \(2,\)\) "
                                         r"for step 3; expected a scalar number"):
        schedules.evaluate(Vector(), 3)
    assert schedules.evaluate(SCHEDULES["exp"], 0) == pytest.approx(0.1)

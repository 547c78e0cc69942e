"""Loss targets (issues 18.3, 18.6): the functional losses and `fit` check targets
the same way (float64 targets all the way: tests/test_properties.py
test_fit_on_float64_model_uses_float64)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L
from minigrad import losses

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)


# ------------------------------------------------ one validation path
BAD = [  # (loss, y_true, exception, message fragment)
    ("sparse_categorical_crossentropy", np.array([0.5, 1.0]), TypeError, "fractional values"),
    ("sparse_categorical_crossentropy", np.array([np.nan, 1.0]), ValueError, "NaN or infinite"),
    ("sparse_categorical_crossentropy", np.array([0, 3]), ValueError, "labels must be in [0, 3)"),
    ("sparse_categorical_crossentropy", np.array(["a", "b"]), TypeError, "real numbers"),
    ("categorical_crossentropy", np.array([[np.nan, 1, 0], [0, 0, 1]]), ValueError, "NaN"),
    ("categorical_crossentropy", np.array([[-0.5, 1.5, 0], [0, 0, 1]]), ValueError,
     "probabilities in [0, 1]"),
    ("categorical_crossentropy", np.eye(4)[[0, 1]], ValueError, "one-hot targets of shape"),
    ("mean_squared_error", np.zeros((2, 2)), ValueError, "expected targets of shape (samples, 3)"),
    ("mean_squared_error", np.zeros((2, 1, 3)), ValueError, "got shape (2, 1, 3)"),
    ("mean_squared_error", np.array([[np.inf, 0, 0], [0, 0, 0]]), ValueError, "NaN or infinite"),
]


@pytest.mark.parametrize("name,y,exc,fragment", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_functional_losses_reject_bad_targets(name, y, exc, fragment):
    fn = getattr(losses, name)
    with pytest.raises(exc, match=fragment.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        fn(y, mg.Tensor(P))


def test_fit_and_the_functional_loss_give_one_message():
    model = mg.Sequential([L.Dense(3, activation="softmax", input_shape=(2,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    y = np.array([0.5, 1.0])
    with pytest.raises(TypeError) as from_fit:
        model.fit(np.zeros((2, 2), np.float32), y, verbose=0)
    with pytest.raises(TypeError) as from_fn:
        losses.sparse_categorical_crossentropy(y, mg.Tensor(P))
    assert str(from_fit.value) == str(from_fn.value)


def test_samples_must_match():
    with pytest.raises(ValueError, match="same number of samples"):
        losses.sparse_categorical_crossentropy(np.array([0, 1, 2]), mg.Tensor(P))


def test_mse_never_reshapes_mismatched_targets():
    pred = mg.Tensor(np.arange(8, dtype=np.float32).reshape(4, 2))
    with pytest.raises(ValueError, match="same number of samples"):
        losses.mse(np.arange(8.0).reshape(2, 4), pred)      # same size, other shape
    with pytest.raises(ValueError, match="expected targets of shape"):
        losses.mse(np.arange(8.0).reshape(4, 1, 2), pred)


def test_mse_takes_samples_targets_for_one_output_like_keras():
    pred = mg.Tensor(np.array([[1.0], [2.0], [4.0]]))
    y = np.array([1.5, 2.0, 3.0])
    # the function gives Keras's per-sample values; the class their batch mean
    np.testing.assert_allclose(losses.mse(y, pred).numpy(), (y - [1.0, 2.0, 4.0]) ** 2)
    assert losses.MeanSquaredError()(y, pred).item() == pytest.approx(
        np.mean((y - [1.0, 2.0, 4.0]) ** 2))
    assert losses.MeanSquaredError()(y[:, None], pred).item() == \
        losses.MeanSquaredError()(y, pred).item()


def test_probabilities_outside_0_1_are_clipped_as_keras_does():
    """Keras 3's probability cross-entropy (hand-made reference of its formula):
    p / sum(p), clipped to [1e-7, 1 - 1e-7], then -sum(t * log p)."""
    pred = np.array([[-0.2, 0.9, 0.3], [1.4, -0.1, 0.2]])
    target = np.array([[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]])
    p = np.clip(pred / pred.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    want = -(target * np.log(p)).sum(-1)
    got = losses.categorical_crossentropy(target, mg.Tensor(pred)).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-9)
    got = losses.sparse_categorical_crossentropy(np.array([1, 0]), mg.Tensor(pred)).numpy()
    np.testing.assert_allclose(got, -np.log([p[0, 1], p[1, 0]]), rtol=1e-9)

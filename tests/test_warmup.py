"""Sequential.warmup compiles the kernels and leaves no trace in the model."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers


def _model():
    return mg.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                          layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
                          layers.Dense(3, activation="softmax")])


def _fit(warm: bool, loss="sparse_categorical_crossentropy", optimizer="adam"):
    mg.random.seed(3)
    model = _model()
    model.compile(optimizer, loss, metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((24, 8, 8, 1), dtype="float32")
    y = np.arange(24) % 3
    if loss != "sparse_categorical_crossentropy":
        y = np.eye(3, dtype="float32")[y]
    if warm:
        before = model.get_weights()
        assert model.warmup(verbose=0) >= 0
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
        assert model.optimizer.iterations == 0
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    return history.history["loss"], model.get_weights()


@pytest.mark.parametrize("loss,optimizer", [("sparse_categorical_crossentropy", "adam"),
                                            ("categorical_crossentropy", "sgd"),
                                            ("mse", "adam")])
def test_warmup_changes_nothing(loss, optimizer):
    cold_loss, cold_weights = _fit(False, loss, optimizer)
    warm_loss, warm_weights = _fit(True, loss, optimizer)
    assert cold_loss == warm_loss
    assert all(np.array_equal(a, b) for a, b in zip(cold_weights, warm_weights))


def test_warmup_needs_compile():
    with pytest.raises(ValueError, match="compiled"):
        _model().warmup(verbose=0)

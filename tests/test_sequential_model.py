"""Sequential as Keras 3 has it: a stack that may hold models, pop(), get_layer,
build(), the input shape from an Input, a layer's input_shape or the first data."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers


def test_nested_sequential_trains_and_saves(tmp_path):
    mg.random.seed(0)
    base = mg.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                          layers.Dense(8, activation="relu")], name="base")
    model = mg.Sequential([base, layers.Dense(3, activation="softmax")])
    assert model.built and model.output_shape == (None, 3)
    assert len(model.layers) == 2 and model.count_params() == base.count_params() + 27
    assert len(model.weights) == 6
    r = np.random.default_rng(0)
    x, y = r.standard_normal((64, 4)).astype("f4"), r.integers(0, 3, 64)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "nested.npz")
    loaded = mg.load_model(tmp_path / "nested.npz")
    assert type(loaded.layers[0]).__name__ == "Sequential" and loaded.layers[0].name == "base"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_transfer_learning_blueprints():
    mg.random.seed(1)
    pretrained = mg.Sequential([layers.Dense(6, activation="relu", input_shape=(5,)),
                                layers.Dense(6, activation="relu"), layers.Dense(2)])
    base_weights = pretrained.layers[0].get_weights()
    model = mg.Sequential(pretrained.layers[:-1] + [layers.Dense(4)])
    assert model.built and model.output_shape == (None, 4)
    assert model.layers[0] is pretrained.layers[0]           # the same layer, shared
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((16, 5)).astype("f4")
    model.fit(x, np.ones((16, 4), "f4"), epochs=2, verbose=0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], base_weights[0])

    frozen_base = mg.Sequential([layers.Dense(6, input_shape=(5,))])
    frozen_base.trainable = False
    stacked = mg.Sequential([frozen_base, layers.Dense(1)])
    assert [w.shape for w in stacked.trainable_weights] == [(6, 1), (1,)]


def test_pop_add_and_incremental_build():
    model = mg.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    popped = model.pop()
    assert popped.units == 4 and len(model.layers) == 2 and not model.built
    model = mg.Sequential([mg.Input((4,)), layers.Dense(2), layers.Dense(3)])
    model.pop()
    assert model.built and model.output_shape == (None, 2)
    model.add(layers.Dense(5))
    assert model.output_shape == (None, 5)
    assert model.predict(np.ones((2, 4)), verbose=0).shape == (2, 5)
    model.pop(), model.pop()
    with pytest.raises(ValueError, match="no layers to pop"):
        model.pop()


def test_lazy_build_from_data_and_explicit_build():
    model = mg.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3)])
    assert not model.built and model.weights == []
    with pytest.raises(AttributeError, match="no defined output_shape"):
        model.output_shape
    y = model(np.ones((1, 4), "f4"))
    assert y.shape == (1, 3) and len(model.weights) == 4
    other = mg.Sequential([layers.Dense(8), layers.Dense(4)])
    other.build((None, 16))
    assert other.built and len(other.weights) == 4 and other.input_shape == (None, 16)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 16\)"):
        other(np.ones((1, 15), "f4"))


def test_a_failed_add_leaves_the_model_as_it_was():
    model = mg.Sequential([mg.Input((4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="ndim=4"):
        model.add(layers.Conv2D(2, 3))
    assert len(model.layers) == 1 and model.output_shape == (None, 2)


def test_deep_sequential_builds_without_recursion_limits():
    model = mg.Sequential([mg.Input((2,))] + [layers.Dense(2) for _ in range(1500)])
    assert model.built and len(model.layers) == 1500
    assert model.predict(np.ones((1, 2), "f4"), verbose=0).shape == (1, 2)

"""Subclassed layers and models: sublayers and weights tracked as attributes
(also in lists and dicts), recursive freezing, the training context, build(),
Keras 3's auto-names, and the errors that used to be silent."""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers


class Linear(layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return inputs @ self.w + self.b

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)


class MLPBlock(layers.Layer):
    """keras-io's pattern: sublayers made in __init__, built by the first call."""

    def __init__(self):
        super().__init__()
        self.linear_1 = Linear(32)
        self.linear_2 = Linear(32)
        self.linear_3 = Linear(1)

    def call(self, inputs):
        x = self.linear_1(inputs).relu()
        return self.linear_3(self.linear_2(x).relu())


class Regressor(mg.Model):
    def __init__(self, hidden=16):
        super().__init__()
        self.hidden = hidden
        self.blocks = [layers.Dense(hidden, activation="relu"),
                       layers.Dense(hidden, activation="relu")]
        self.heads = {"out": layers.Dense(1)}
        self.dropout = layers.Dropout(0.5)

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x)
        return self.heads["out"](self.dropout(x))


def regression_data(n=128, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, 4)).astype("f4")
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "f4") + 0.3).astype("f4")


# ----------------------------------------------------------------- tracking
def test_sublayer_weights_are_tracked_as_keras_counts_them(fresh_names):
    mlp = MLPBlock()
    assert mlp.name == "mlp_block"                        # Keras's snake case
    y = mlp(np.ones((3, 64), "f4"))
    assert y.shape == (3, 1)
    assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6
    assert mlp.count_params() == 3169                     # Keras 3 prints 3,169 for this block
    assert [w.name for w in mlp.weights][:2] == ["linear/variable", "linear/variable_1"]


def test_lists_and_dicts_of_layers_are_tracked_and_trained():
    mg.random.seed(0)
    model = Regressor()
    x, y = regression_data()
    model.compile(optimizer=mg.optimizers.Adam(learning_rate=0.01), loss="mse")
    before = model.get_weights() if model.built else None
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    assert before is None and model.built
    assert len(model.weights) == 6 and model.count_params() == 4 * 16 + 16 + 16 * 16 + 16 + 17
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]  # the loss falls
    assert [l.name for l in model.layers][:2] == [l.name for l in model.blocks]
    model.blocks.append(layers.Dense(3))                  # later appends are tracked too
    assert model.blocks[-1] in model.layers


def test_sublayers_in_nested_and_self_holding_containers_keep_their_order():
    holder = layers.Layer()
    a, b, c, d = (layers.Dense(1, name=n) for n in "abcd")
    holder.first = [a, (b, {"k": c, "j": a})]           # a seen twice, tracked once
    holder.shape, holder.count = (3, 4), 7               # plain values hold no layer
    loop = [d]
    loop.append(loop)                                    # a list that holds itself
    holder.loop = loop
    assert [l.name for l in holder._flatten_layers()] == ["a", "b", "c", "d"]


def test_tensor_attributes_become_weights_like_parameters():
    class Scale(layers.Layer):
        def __init__(self):
            super().__init__()
            self.gain = mg.Tensor(np.full(3, 2.0, "f4"), requires_grad=True)
            self.cache = mg.Tensor(np.zeros(3, "f4"))      # no grad: not a weight

        def call(self, x):
            return x * self.gain

    scale = Scale()
    assert scale.weights == [scale.gain] and scale.gain.trainable
    model = mg.Sequential([mg.Input((3,)), scale, layers.Dense(1)])
    assert len(model.weights) == 3


def test_build_marks_built_and_never_duplicates_weights():
    dense = layers.Dense(3)
    dense.build((None, 4))
    assert dense.built and len(dense.weights) == 2
    dense.set_weights([np.ones((4, 3)), np.zeros(3)])
    out = dense(np.ones((2, 4), "f4"))
    assert len(dense.weights) == 2                         # the call did not build again
    np.testing.assert_allclose(out.numpy(), 4.0)          # and kept the weights set
    linear = Linear(2)
    linear.build((None, 5))
    assert linear.built and len(linear.weights) == 2
    linear.build((None, 5))
    assert len(linear.weights) == 2
    with pytest.raises(ValueError, match="value 5"):
        linear(np.ones((1, 6), "f4"))
    model = Regressor()
    model.build((None, 4))
    assert model.built and model.count_params() == 4 * 16 + 16 + 16 * 16 + 16 + 17


def test_freezing_is_recursive_and_needs_a_recompile():
    mg.random.seed(1)
    model = Regressor()
    model.build((None, 4))
    model.blocks[0].trainable = False
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    model.trainable = False
    assert model.trainable_weights == [] and all(not l.trainable for l in model.layers)
    model.trainable = True
    assert len(model.trainable_weights) == 6

    x, y = regression_data(64)
    model.compile(optimizer="sgd", loss="mse")            # everything trains
    model.blocks[0].trainable = False                     # frozen after compile
    frozen = model.blocks[0].get_weights()
    with pytest.warns(UserWarning, match="recompile"):
        model.fit(x, y, epochs=1, verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(frozen, model.blocks[0].get_weights()))


def test_training_reaches_nested_layers_from_the_outer_call():
    model = Regressor()
    x = np.ones((64, 4), "f4")
    model.build((None, 4))
    inference = model(x).numpy()
    np.testing.assert_array_equal(inference, model(x, training=False).numpy())
    trained = model(x, training=True).numpy()             # Dropout sees training=True
    assert not np.array_equal(trained, inference)
    np.testing.assert_array_equal(model.predict(x, verbose=0), inference)


def test_functional_style_subclass():
    class Small(mg.Model):
        def __init__(self):
            inputs = mg.Input((3,))
            super().__init__(inputs, layers.Dense(2)(inputs))

    model = Small()
    assert model.name == "small" and model.built and model.output_shape == (None, 2)
    assert isinstance(model, mg.models.Functional)
    assert model.predict(np.ones((4, 3)), verbose=0).shape == (4, 2)


# ----------------------------------------------------------------- weights
@pytest.mark.parametrize("target", ["model", "layer"])
def test_set_weights_copies_the_callers_arrays(target):
    mg.random.seed(2)
    model = mg.Sequential([layers.Dense(4, input_shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    owner = model if target == "model" else model.layers[0]
    init = owner.get_weights()
    saved = [w.copy() for w in init]
    owner.set_weights(init)
    model.fit(*regression_data(32), epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(init, saved))   # init untouched
    assert not all(np.array_equal(a, b) for a, b in zip(owner.get_weights(), saved))


def _has_h5py() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def test_subclassed_model_saves_and_loads(tmp_path):
    mg.random.seed(3)
    model = Regressor(hidden=8)
    model.compile(optimizer="adam", loss="mse")
    x, y = regression_data(32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "r.npz")
    loaded = mg.load_model(tmp_path / "r.npz", custom_objects={"Regressor": Regressor})
    assert isinstance(loaded, Regressor) and loaded.hidden == 8
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations

    class NeedsObject(mg.Model):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def call(self, x, training=None):
            return self.layer(x)

    odd = NeedsObject(layers.Dense(1))
    odd(x)
    with pytest.raises(ValueError, match="NeedsObject.*cannot be saved.*get_config"):
        odd.save(tmp_path / "odd.npz")   # refused when saving, not found out when loading
    assert not (tmp_path / "odd.npz").exists()
    with pytest.raises(ValueError, match=r"\.keras or \.npz"):
        model.save(tmp_path / "r.h5")   # the suffix says the format, as in Keras 3
    if _has_h5py():  # .keras files need the minigrad[keras] extra
        with pytest.raises(ValueError, match="NeedsObject.*cannot be saved.*get_config"):
            odd.save(tmp_path / "odd.keras")
        model.save(tmp_path / "r.keras")
        loaded = mg.load_model(tmp_path / "r.keras", custom_objects={"Regressor": Regressor})
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ names
def test_keras_auto_names(fresh_names):
    assert layers.Dense(2, name="mine").name == "mine"
    assert layers.Dense(2).name == "dense"                # the explicit name took no number
    assert layers.Dense(2).name == "dense_1"
    assert MLPBlock().name == "mlp_block"
    assert Regressor().name == "regressor"
    assert layers.MaxPooling2D().name == "max_pooling2d"
    i = mg.Input((2,))
    assert i.name == "input_layer"
    assert mg.Model(i, layers.Dense(1)(i)).name == "functional"
    with pytest.raises(TypeError, match="without '/'"):
        layers.Dense(2, name="a/b")


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize("make", [
    lambda: layers.Dense(2, kernel_regulariser="l2"),
    lambda: layers.ReLU(activation="relu"),
    lambda: layers.Flatten(units=3),
    lambda: layers.Add(axis=1),
    lambda: Regressor(bogus=1),
    lambda: mg.Sequential(layers=[], foo=1),
])
def test_unknown_keyword_arguments_raise(make):
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        make()


def test_layer_returning_numpy_is_an_error():
    class Leaky(layers.Layer):
        def call(self, x):
            return np.maximum(x.numpy(), 0)

    with pytest.raises(TypeError, match=r"'leaky'.*numpy.ndarray"):
        Leaky(name="leaky")(np.ones((2, 3), "f4"))
    dense = layers.Dense(2, activation=lambda t: t.numpy())
    with pytest.raises(TypeError, match="numpy.ndarray"):
        dense(np.ones((2, 3), "f4"))


def test_unbuilt_models_say_so():
    model = Regressor()
    with pytest.raises(ValueError, match="built"):
        model.count_params()
    with pytest.raises(ValueError, match="built"):
        model.summary()
    with pytest.raises(ValueError, match="input shape"):
        model.build((None, None))


def test_get_layer_by_name_and_index():
    model = mg.Sequential([layers.Dense(2, name="a", input_shape=(3,)), layers.Dense(1, name="b")])
    assert model.get_layer("b") is model.layers[1] is model.get_layer(index=1)
    assert model.get_layer(name="a") is model.layers[0]
    with pytest.raises(ValueError, match="No such layer: c"):
        model.get_layer("c")
    with pytest.raises(ValueError, match="index 5"):
        model.get_layer(index=5)
    with pytest.raises(ValueError, match="only a layer name or a layer index"):
        model.get_layer("a", 0)
    with pytest.raises(ValueError, match="either a layer name or layer index"):
        model.get_layer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.get_layer(index=-1)

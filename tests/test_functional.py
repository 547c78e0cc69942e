"""Functional models: mg.Input, mg.Model(inputs, outputs), graphs of layer calls.

DAGs, several inputs/outputs as lists or dicts, shared layers, layer.input/output,
feature extraction, models as layers, the fused ops as graph properties, configs
and saving, and the build-time errors Keras gives.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers
from minigrad.layers.node import KerasTensor


def data(n=64, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, 8, 8, 1)).astype("f4"), r.integers(0, 3, n)


# --------------------------------------------------------------- building
def test_input_is_symbolic_with_keras_shape_and_dtype():
    x = mg.Input(shape=(28, 28, 1), name="img")
    assert isinstance(x, KerasTensor)
    assert x.shape == (None, 28, 28, 1) and x.dtype == "float32" and x.name == "img"
    assert mg.layers.Input is mg.Input
    assert mg.Input((3,), batch_size=4).shape == (4, 3)
    assert mg.Input(batch_shape=(None, None, 5), dtype="float64").shape == (None, None, 5)
    with pytest.raises(TypeError, match="symbolic"):
        x + x  # arithmetic on symbolic tensors goes through layers
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(x)


def test_residual_dag_trains_and_predicts():
    mg.random.seed(0)
    inputs = mg.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    y = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = layers.add([x, y])
    outputs = layers.Dense(3, activation="softmax")(layers.Flatten()(x))
    model = mg.Model(inputs, outputs)
    assert model.name.startswith("functional") and model.built
    assert [type(l).__name__ for l in model.layers] == \
        ["InputLayer", "Conv2D", "Conv2D", "Add", "Flatten", "Dense"]
    assert model.inputs == [inputs] and model.outputs == [outputs]
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 3)
    x, y = data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert isinstance(model(x[:2]), mg.Tensor)
    probs = model.predict(x[:5], verbose=0)
    assert probs.shape == (5, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_several_inputs_and_outputs_as_lists_and_dicts():
    a, b = mg.Input((4,), name="a"), mg.Input((6,), name="b")
    merged = layers.concatenate([layers.Dense(3)(a), b])
    out1, out2 = layers.Dense(1, name="score")(merged), layers.Dense(2, name="cls")(merged)
    xa, xb = np.ones((5, 4), "f4"), np.ones((5, 6), "f4")

    as_list = mg.Model([a, b], [out1, out2])
    p1, p2 = as_list.predict([xa, xb], verbose=0)
    assert p1.shape == (5, 1) and p2.shape == (5, 2)
    same = as_list.predict({"a": xa, "b": xb}, verbose=0)   # inputs by name
    assert all(np.array_equal(u, v) for u, v in zip(same, [p1, p2]))

    as_dict = mg.Model({"b": b, "a": a}, {"score": out1, "cls": out2})
    out = as_dict.predict({"a": xa, "b": xb}, verbose=0)
    assert set(out) == {"score", "cls"}
    np.testing.assert_array_equal(out["score"], p1)
    direct = as_dict({"a": xa, "b": xb})
    assert isinstance(direct, dict) and direct["cls"].shape == (5, 2)
    with pytest.raises(ValueError, match="lacks"):
        as_dict.predict({"a": xa}, verbose=0)
    with pytest.raises(ValueError, match="2 inputs"):
        as_list.predict(xa, verbose=0)
    with pytest.raises(ValueError, match="expects shape"):
        as_list([xa, np.ones((5, 5), "f4")])
    as_list.compile(loss="mse")
    with pytest.raises(ValueError, match="loss per output"):
        as_list.fit([xa, xb], np.ones((5, 1)), verbose=0)


def test_multi_input_model_fits():
    mg.random.seed(1)
    a, b = mg.Input((4,), name="a"), mg.Input((4,), name="b")
    out = layers.Dense(1)(layers.multiply([layers.Dense(4)(a), layers.Dense(4)(b)]))
    model = mg.Model([a, b], out)
    model.compile(optimizer="adam", loss="mse")
    r = np.random.default_rng(0)
    xa, xb = r.standard_normal((64, 4)).astype("f4"), r.standard_normal((64, 4)).astype("f4")
    y = (xa[:, :1] * xb[:, :1]).astype("f4")
    history = model.fit({"a": xa, "b": xb}, y, batch_size=16, epochs=5, verbose=0,
                        validation_data=([xa, xb], y))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.isfinite(model.evaluate([xa, xb], y, verbose=0))


def test_shared_layer_shares_its_weights():
    shared = layers.Dense(3, name="shared")
    a, b = mg.Input((5,)), mg.Input((5,))
    model = mg.Model([a, b], layers.subtract([shared(a), shared(b)]))
    assert len(shared._inbound_nodes) == 2
    assert len(model.weights) == 2 and model.count_params() == 18
    x = np.random.default_rng(0).standard_normal((4, 5)).astype("f4")
    np.testing.assert_allclose(model.predict([x, x], verbose=0), 0)  # same weights both ways
    assert shared.output is shared._inbound_nodes[0].outputs[0]  # Keras: the first call


def test_layer_input_output_and_feature_extraction():
    initial = mg.Sequential([mg.Input((10, 10, 3)), layers.Conv2D(4, 3, activation="relu"),
                             layers.Conv2D(4, 3, activation="relu", name="middle"),
                             layers.Conv2D(2, 3, activation="relu")])
    extractor = mg.Model(inputs=initial.inputs, outputs=[l.output for l in initial.layers])
    features = extractor(np.ones((1, 10, 10, 3), "f4"))
    assert [f.shape for f in features] == [(1, 8, 8, 4), (1, 6, 6, 4), (1, 4, 4, 2)]
    np.testing.assert_allclose(features[-1].numpy(), initial(np.ones((1, 10, 10, 3), "f4"))
                               .numpy(), rtol=1e-6)
    middle = mg.Model(initial.inputs, initial.get_layer(name="middle").output)
    assert middle(np.ones((2, 10, 10, 3), "f4")).shape == (2, 6, 6, 4)
    assert initial.layers[1].input is initial.layers[0].output
    with pytest.raises(AttributeError, match="never been called"):
        layers.Dense(2).output


def test_models_are_layers():
    def get_model():
        inputs = mg.Input(shape=(12,))
        return mg.Model(inputs, layers.Dense(1)(inputs))
    m1, m2, m3 = get_model(), get_model(), get_model()
    inputs = mg.Input(shape=(12,))
    ensemble = mg.Model(inputs, layers.average([m1(inputs), m2(inputs), m3(inputs)]))
    x = np.random.default_rng(0).standard_normal((3, 12)).astype("f4")
    expected = (m1.predict(x, verbose=0) + m2.predict(x, verbose=0) +
                m3.predict(x, verbose=0)) / 3
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert ensemble.count_params() == 3 * 13
    # a Sequential inside a functional model and the other way round
    seq = mg.Sequential([layers.Dense(4, input_shape=(12,)), layers.Dense(2)])
    outer = mg.Model(inputs, seq(inputs))
    np.testing.assert_allclose(outer.predict(x, verbose=0), seq.predict(x, verbose=0))
    stacked = mg.Sequential([m1, layers.Dense(2)])
    assert stacked.built and stacked.output_shape == (None, 2)
    assert stacked.predict(x, verbose=0).shape == (3, 2)


def test_functional_and_sequential_train_to_identical_weights():
    x, y = data(96)

    def sequential():
        return mg.Sequential([
            layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.3),
            layers.Dense(3, activation="softmax")])

    def functional():
        inputs = mg.Input((8, 8, 1))
        h = layers.Conv2D(4, 3, activation="relu")(inputs)
        h = layers.Dropout(0.3)(layers.Flatten()(layers.MaxPooling2D(2)(h)))
        return mg.Model(inputs, layers.Dense(3, activation="softmax")(h))

    runs = []
    for make in (sequential, functional):
        mg.random.seed(7)
        model = make()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0)
        runs.append((model.get_weights(), history.history))
    (w_seq, h_seq), (w_fun, h_fun) = runs
    assert len(w_seq) == len(w_fun) == 4
    assert all(np.array_equal(a, b) for a, b in zip(w_seq, w_fun))
    assert h_seq == h_fun


# ----------------------------------------------------------------- fusion
def test_conv_pool_and_softmax_loss_fuse_in_functional_graphs():
    mg.random.seed(3)
    inputs = mg.Input((8, 8, 1))
    conv, pool = layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2)
    dense = layers.Dense(3, activation="softmax")
    model = mg.Model(inputs, dense(layers.Flatten()(pool(conv(inputs)))))
    kinds = [step[0] for step in model._plan.steps]
    assert kinds == ["conv_pool", "call", "call"]
    assert model._softmax_output_layer() is dense
    model.compile(loss="sparse_categorical_crossentropy")
    assert model._fused_loss().from_logits
    x = data(4)[0]
    unfused = dense(layers.Flatten()(mg.ops.max_pool2d(conv(x), 2))).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), unfused, rtol=1e-6, atol=1e-7)


def test_no_fusion_where_the_conv_output_is_used_twice():
    inputs = mg.Input((8, 8, 1))
    conv, pool = layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2)
    c = conv(inputs)
    out = layers.concatenate([layers.Flatten()(c), layers.Flatten()(pool(c))])
    probs = layers.Dense(2, activation="softmax")(out)
    model = mg.Model(inputs, [probs, out])
    assert "conv_pool" not in [step[0] for step in model._plan.steps]
    assert model._softmax_output_layer() is None  # two outputs: the loss does not fuse
    x = data(3)[0]
    features = model(x)[1].numpy()
    z = conv(x)
    np.testing.assert_allclose(features[:, :72], z.numpy().reshape(3, -1))
    np.testing.assert_allclose(features[:, 72:], pool(z).numpy().reshape(3, -1))


# ------------------------------------------------------- config and saving
def test_config_round_trip_and_npz_save(tmp_path):
    mg.random.seed(5)
    a, b = mg.Input((4,), name="a"), mg.Input((4,), name="b")
    shared = layers.Dense(3, activation="relu", name="shared")
    inner_in = mg.Input((3,))
    inner = mg.Model(inner_in, layers.Dense(2)(inner_in), name="inner")
    out = inner(layers.add([shared(a), shared(b)]))
    model = mg.Model([a, b], out, name="outer")
    config = model.get_config()
    rebuilt = mg.Model.from_config(config)
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    rebuilt.set_weights(model.get_weights())
    xa, xb = np.ones((2, 4), "f4"), np.full((2, 4), 0.5, "f4")
    np.testing.assert_array_equal(rebuilt.predict([xa, xb], verbose=0),
                                  model.predict([xa, xb], verbose=0))
    model.compile(optimizer="adam", loss="mse")
    model.fit([xa, xb], np.ones((2, 2), "f4"), verbose=0)
    model.save(tmp_path / "f.npz")
    loaded = mg.load_model(tmp_path / "f.npz")
    assert type(loaded).__name__ == "Functional" and loaded.name == "outer"
    np.testing.assert_array_equal(loaded.predict([xa, xb], verbose=0),
                                  model.predict([xa, xb], verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations


# -------------------------------------------------------------- bad input
def test_wrong_rank_at_build_names_the_layer_and_shape():
    with pytest.raises(ValueError, match=r'layer "conv".*ndim=4.*\(None, 4\)'):
        layers.Conv2D(3, 3, name="conv")(mg.Input((4,)))


def test_incompatible_reuse_names_layer_and_both_shapes():
    conv = layers.Conv2D(3, 3, name="conv")
    conv(mg.Input((8, 8, 3)))
    with pytest.raises(ValueError, match=r'"conv".*value 3.*\(None, 8, 8, 4\).*'
                                         r'built for input shape \(None, 8, 8, 3\)'):
        conv(mg.Input((8, 8, 4)))


def test_outputs_must_depend_on_inputs():
    with pytest.raises(ValueError, match="Graph disconnected"):
        mg.Model(mg.Input((3,)), layers.Dense(2)(mg.Input((3,))))
    with pytest.raises(ValueError, match="KerasTensors"):
        mg.Model(mg.Input((3,)), np.zeros(3))


def test_duplicate_names_and_cycles():
    i = mg.Input((4,))
    with pytest.raises(ValueError, match='"x" is used 2 times'):
        mg.Model(i, [layers.Dense(2, name="x")(i), layers.Dense(2, name="x")(i)])
    seq = mg.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="cycle"):
        seq.add(seq)
    outer = mg.Sequential([seq])
    with pytest.raises(ValueError, match="cycle"):
        seq.add(outer)

    class Loop(layers.Layer):
        pass
    loop = Loop()
    with pytest.raises(ValueError, match="cycle"):
        loop.me = loop
    with pytest.raises(ValueError, match="cycle"):
        loop.many = [layers.Dense(1), loop]


def test_merge_layers_check_shapes():
    with pytest.raises(ValueError, match=r"add.*incompatible shapes.*\(3,\).*\(4,\)"):
        layers.add([mg.Input((3,)), mg.Input((4,))], name="add")
    with pytest.raises(ValueError, match="matching shapes except for the concatenation"):
        layers.concatenate([mg.Input((3, 2)), mg.Input((4, 3))])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.subtract([mg.Input((3,))] * 3)
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Add()(mg.Input((3,)))


def test_input_placed_twice():
    i = mg.Input((3,))
    with pytest.raises(ValueError, match="same Input appears twice"):
        mg.Model([i, i], layers.Dense(2)(i))


def test_input_placed_twice_in_a_sequential():
    with pytest.raises(ValueError, match="already been configured"):
        mg.Sequential([mg.Input((3,)), mg.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="only be the first"):
        mg.Sequential([layers.Dense(2), mg.Input((3,))])
    with pytest.raises(TypeError, match="InputLayer"):
        layers.InputLayer(shape=(3,))(np.zeros((1, 3)))

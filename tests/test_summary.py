"""model.summary() against what real Keras 3 prints for the same models.

tests/data/keras3_summaries.json was written by tests/data/keras3_summaries.py
with Keras 3.15.1 (JAX backend) and COLUMNS=80; each test here builds the same
model in minigrad (same names, layers and calls) and compares the text exactly:
nested Sequential and functional models as one row (or expanded), the
"Connected to" column, shared layers, subclassed models ("?" shapes), bytes
from the weights' dtypes, frozen layers and the optimizer's variables.
"""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers

with open(os.path.join(os.path.dirname(__file__), "data", "keras3_summaries.json"),
          encoding="utf-8") as f:
    KERAS = json.load(f)


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # summary() sizes itself to the terminal, as Keras


def summary(model, **kwargs) -> str:
    printed = []
    model.summary(print_fn=printed.append, **kwargs)
    assert len(printed) == 1  # Keras 3 hands print_fn the whole text at once
    return printed[0]


def nested_sequential():
    base = mg.Sequential([mg.Input((8,), name="x"), layers.Dense(4, name="d1")], name="base")
    return mg.Sequential([base, layers.Dense(5, name="d2")], name="outer")


def ensemble():
    def get_model(i):
        inputs = mg.Input(shape=(16,), name=f"in{i}")
        return mg.Model(inputs, layers.Dense(1, name=f"dense{i}")(inputs), name=f"m{i}")
    m1, m2 = get_model(1), get_model(2)
    inputs = mg.Input(shape=(16,), name="x")
    y = layers.average([m1(inputs), m2(inputs)], name="avg")
    return mg.Model(inputs, y, name="ensemble"), m2


class MLPBlock(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.l1 = layers.Dense(32, name="l1")
        self.l2 = layers.Dense(32, name="l2")
        self.l3 = layers.Dense(1, name="l3")

    def call(self, x):
        return self.l3(self.l2(self.l1(x).relu()).relu())


class Net(mg.Model):
    def __init__(self):
        super().__init__(name="net")
        self.block = MLPBlock(name="block")
        self.head = layers.Dense(2, name="head")

    def call(self, x, training=None):
        return self.head(self.block(x))


def test_nested_sequential_is_one_row():
    model = nested_sequential()
    assert summary(model) == KERAS["nested_sequential"]
    assert summary(model, expand_nested=True, show_trainable=True) == \
        KERAS["nested_sequential_expanded"]


def test_functional_with_nested_models():
    model, m2 = ensemble()
    assert summary(model) == KERAS["ensemble"]
    m2.trainable = False
    # 110 wide in an 80-column terminal: cropped at 80, as rich crops Keras's table
    assert summary(model, expand_nested=True, show_trainable=True, line_length=110) == \
        KERAS["ensemble_expanded"]


def test_shared_layer_two_inputs_dict_outputs():
    a, b = mg.Input((6,), name="a"), mg.Input((6,), name="b")
    shared = layers.Dense(3, name="shared")
    c = layers.concatenate([shared(a), shared(b)], name="cat")
    outs = {"p": layers.Dense(1, name="p")(c), "q": layers.Dense(2, name="q")(c)}
    model = mg.Model([a, b], outs, name="two_heads")
    assert summary(model, line_length=100) == KERAS["shared_two_heads"]


def test_subclassed_model_and_keras_param_count():
    net = Net()
    net(np.zeros((1, 64), "float32"))
    assert summary(net) == KERAS["subclassed"]
    assert net.count_params() == KERAS["subclassed_count"] == 3173
    assert net.block.count_params() == KERAS["mlp_count"]
    assert len(net.weights) == KERAS["subclassed_nweights"]


def test_bytes_come_from_the_weight_dtype():
    model = mg.Sequential([mg.Input((8,)), layers.Dense(4, dtype="float64", name="d64")],
                          name="f64")
    assert summary(model) == KERAS["float64"]  # 36 float64 params: 288 bytes, not 144


def test_optimizer_variables_after_fit():
    model = mg.Sequential([mg.Input((8,)), layers.Dense(4, activation="relu", name="h"),
                           layers.Dense(3, activation="softmax", name="o")], name="fitted")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert "Optimizer params" not in summary(model)  # no optimizer state before fit
    model.fit(np.zeros((4, 8)), np.zeros(4), verbose=0)
    assert summary(model) == KERAS["fitted_adam"]


def test_frozen_layer_counts_as_non_trainable():
    model = mg.Sequential([mg.Input((8,)), layers.Dense(4, name="frozen"),
                           layers.Dense(2, name="top")], name="partly_frozen")
    model.layers[0].trainable = False
    assert summary(model) == KERAS["partly_frozen"]


def test_functional_guide_model():
    inputs = mg.Input(shape=(784,), name="img784")
    x = layers.Dense(64, activation="relu", name="dense")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_1")(x)
    outputs = layers.Dense(10, name="dense_2")(x)
    model = mg.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    assert summary(model) == KERAS["mnist_model"]


def test_summary_prints_to_stdout_and_checks_its_arguments(capsys):
    model = nested_sequential()
    model.summary()
    assert capsys.readouterr().out == KERAS["nested_sequential"]
    with pytest.raises(ValueError, match="Insufficient console width"):
        model.summary(line_length=8)
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(layer_range=["base"])
    assert "d2 (Dense)" not in summary(model, layer_range=["base", "base"])

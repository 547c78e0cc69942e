"""Configs in Keras 3's serialisation schema (no h5py needed): get_config /
from_config for every built-in layer, model configs and JSON, clone_model,
serialize / deserialize_keras_object, and custom objects (custom_objects=,
custom_object_scope, register_keras_serializable)."""
import inspect
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L
from minigrad.layers.base import Layer
from minigrad.saving import (custom_object_scope, deserialize_keras_object,
                             register_keras_serializable, serialize_keras_object)


def _x(*shape):
    return np.random.default_rng(0).normal(size=(2,) + shape).astype("float32")


# (layer, how to call it): every built-in layer class, built by a call
CASES = [
    (L.Dense(3, activation="relu", kernel_regularizer="l2"), lambda l: l(_x(4))),
    (L.Conv2D(2, 3, padding="same", strides=1), lambda l: l(_x(5, 5, 2))),
    (L.MaxPooling2D(), lambda l: l(_x(4, 4, 2))),
    (L.Flatten(), lambda l: l(_x(2, 3))),
    (L.Dropout(0.5, seed=1), lambda l: l(_x(3))),
    (L.Activation("tanh"), lambda l: l(_x(3))),
    (L.ReLU(max_value=6.0, negative_slope=0.1), lambda l: l(_x(3))),
    (L.ELU(alpha=0.5), lambda l: l(_x(3))),
    (L.LeakyReLU(negative_slope=0.1), lambda l: l(_x(3))),
    (L.PReLU(), lambda l: l(_x(3))),
    (L.Softmax(axis=-1), lambda l: l(_x(3))),
    (L.MultiHeadAttention(num_heads=2, key_dim=4), lambda l: l(_x(3, 5), _x(3, 5))),
    (L.Conv1D(2, 3), lambda l: l(_x(6, 2))),
    (L.Conv2DTranspose(2, 2, strides=2), lambda l: l(_x(3, 3, 2))),
    (L.DepthwiseConv2D(3, depth_multiplier=2), lambda l: l(_x(5, 5, 2))),
    (L.SeparableConv2D(2, 3), lambda l: l(_x(5, 5, 2))),
    (L.Embedding(10, 3), lambda l: l(np.array([[1, 2, 3]]))),
    (L.Add(), lambda l: l([_x(3), _x(3)])),
    (L.Average(), lambda l: l([_x(3), _x(3)])),
    (L.Concatenate(axis=-1), lambda l: l([_x(3), _x(3)])),
    (L.Maximum(), lambda l: l([_x(3), _x(3)])),
    (L.Minimum(), lambda l: l([_x(3), _x(3)])),
    (L.Multiply(), lambda l: l([_x(3), _x(3)])),
    (L.Subtract(), lambda l: l([_x(3), _x(3)])),
    (L.BatchNormalization(momentum=0.9), lambda l: l(_x(3))),
    (L.LayerNormalization(epsilon=1e-5), lambda l: l(_x(3))),
    (L.AveragePooling1D(2), lambda l: l(_x(4, 2))),
    (L.AveragePooling2D(2), lambda l: l(_x(4, 4, 2))),
    (L.GlobalAveragePooling1D(), lambda l: l(_x(4, 2))),
    (L.GlobalAveragePooling2D(), lambda l: l(_x(4, 4, 2))),
    (L.GlobalMaxPooling1D(), lambda l: l(_x(4, 2))),
    (L.GlobalMaxPooling2D(), lambda l: l(_x(4, 4, 2))),
    (L.MaxPooling1D(2), lambda l: l(_x(4, 2))),
    (L.Normalization(mean=0.5, variance=2.0), lambda l: l(_x(3))),
    (L.Rescaling(0.5, offset=0.1), lambda l: l(_x(3))),
    (L.ActivityRegularization(l1=0.1), lambda l: l(_x(3))),
    (L.GaussianNoise(0.1, seed=2), lambda l: l(_x(3))),
    (L.SpatialDropout2D(0.2), lambda l: l(_x(4, 4, 2))),
    (L.Cropping2D(1), lambda l: l(_x(4, 4, 2))),
    (L.Permute((2, 1)), lambda l: l(_x(2, 3))),
    (L.RepeatVector(2), lambda l: l(_x(3))),
    (L.Reshape((6,)), lambda l: l(_x(2, 3))),
    (L.UpSampling2D(), lambda l: l(_x(2, 2, 2))),
    (L.ZeroPadding2D(1), lambda l: l(_x(2, 2, 2))),
]


def test_every_built_in_layer_is_covered():
    exported = {obj for obj in vars(L).values() if inspect.isclass(obj) and
                issubclass(obj, Layer) and obj not in (Layer, L.InputLayer)}
    assert exported - {type(layer) for layer, _ in CASES} == set()


@pytest.mark.parametrize("layer,call", CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_layer_config_round_trips_through_json(layer, call):
    out = call(layer)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["dtype"] == {"module": "keras", "class_name": "DTypePolicy",
                               "config": {"name": "float32"}, "registered_name": None}
    again = type(layer).from_config(config)
    assert json.dumps(again.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    call(again)
    again.set_weights(layer.get_weights())
    assert np.array_equal(call(again).numpy(), out.numpy())
    # and through Keras's schema: module, class_name, config, registered_name
    entry = json.loads(json.dumps(serialize_keras_object(layer)))
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == \
        ("keras.layers", type(layer).__name__, None)
    assert type(deserialize_keras_object(entry)) is type(layer)


def test_nested_objects_are_written_in_keras_schema():
    config = L.Dense(2, kernel_regularizer=mg.regularizers.L2(0.1)).get_config()
    assert config["kernel_initializer"] == {"module": "keras.initializers",
                                            "class_name": "GlorotUniform",
                                            "config": {"seed": None, "input_axes": None,
                                                       "output_axes": None},
                                            "registered_name": None}
    assert config["kernel_regularizer"]["module"] == "keras.regularizers"
    assert config["activation"] == "linear"


KERAS_DENSE = {  # what Keras 3.15 writes for Dense(3, activation="softmax")
    "name": "dense", "trainable": True,
    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": None, "shared_object_id": 1},
    "units": 3, "activation": "softmax", "use_bias": True,
    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                           "config": {"seed": None, "input_axes": None, "output_axes": None},
                           "registered_name": None},
    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                         "registered_name": None},
    "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
    "bias_constraint": None, "quantization_config": None}


def test_a_keras_written_layer_config_loads_and_unsupported_features_are_named():
    dense = L.Dense.from_config(KERAS_DENSE)
    assert (dense.units, dense.name, dense.dtype) == (3, "dense", "float32")
    assert dense.activation is mg.activations.softmax
    with pytest.raises(ValueError, match=r"Dense 'dense'.*lora_rank=4.*not support"):
        L.Dense.from_config({**KERAS_DENSE, "lora_rank": 4})
    with pytest.raises(ValueError, match="mixed_float16.*not supported"):
        L.Dense.from_config({**KERAS_DENSE, "dtype": {
            "module": "keras", "class_name": "DTypePolicy",
            "config": {"name": "mixed_float16"}, "registered_name": None}})


# ------------------------------------------------------------------ models
def functional_model():
    mg.random.seed(0)
    a, b = mg.Input((4,), name="a"), mg.Input((4,), name="b")
    inner = mg.Sequential([L.Dense(5, activation="relu"), L.Dropout(0.1)], name="inner")
    h = L.Concatenate()([inner(a), L.Dense(5)(b)])
    return mg.Model([a, b], L.Dense(2, activation="softmax")(h))


def test_functional_config_is_keras_schema_and_round_trips_through_json():
    model = functional_model()
    config = json.loads(model.to_json())
    assert (config["module"], config["class_name"], config["registered_name"]) == \
        ("keras.src.models.functional", "Functional", "Functional")
    node = config["config"]["layers"][-1]["inbound_nodes"][0]["args"][0]
    assert node["class_name"] == "__keras_tensor__"
    assert node["config"]["keras_history"][0].startswith("concatenate")
    again = mg.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    x = [_x(4), _x(4) + 1]
    assert np.array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert json.loads(again.to_json()) == config


def test_sequential_config_holds_the_input_layer_as_keras_writes_it():
    model = mg.Sequential([mg.Input((3,)), L.Dense(2)])
    config = model.get_config()
    assert config["layers"][0]["class_name"] == "InputLayer"
    assert config["build_input_shape"] == [None, 3]
    again = mg.Sequential.from_config(config)
    assert again.input_shape == (None, 3) and again.built


def test_clone_model_makes_new_weights_and_applies_clone_function():
    model = functional_model()
    clone = mg.models.clone_model(model)
    assert json.loads(clone.to_json()) == json.loads(model.to_json())
    assert not any(np.array_equal(a, b) for a, b in zip(model.get_weights(),
                                                         clone.get_weights()) if a.std() > 0)

    def no_dropout(layer):
        config = layer.get_config()
        if isinstance(layer, L.Dropout):
            config["rate"] = 0.0
        return type(layer).from_config(config)
    seq = mg.Sequential([mg.Input((3,)), L.Dense(4), L.Dropout(0.5), L.Dense(1)])
    clone = mg.models.clone_model(seq, clone_function=no_dropout)
    assert [type(x) for x in clone.layers] == [type(x) for x in seq.layers]
    assert clone.layers[1].rate == 0.0 and clone.layers[1] is not seq.layers[1]
    with pytest.raises(ValueError, match="callable"):
        mg.models.clone_model(seq, clone_function=3)


class Scaled(mg.Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = L.Dense(units)

    def call(self, inputs):
        return self.dense(inputs) * 2.0


def test_clone_of_a_subclassed_model_comes_from_its_config():
    model = Scaled(units=4)
    model.build((None, 3))
    clone = mg.models.clone_model(model)
    assert type(clone) is Scaled and clone.units == 4 and clone.built


# ------------------------------------------------------------ custom objects
def custom_fn(x):
    return mg.activations.relu(x) * 2.0


def test_custom_activation_needs_and_finds_its_custom_object():
    model = mg.Sequential([mg.Input((3,)), L.Dense(2, activation=custom_fn)])
    entry = model.get_config()["layers"][1]["config"]["activation"]
    assert entry == {"module": __name__, "class_name": "function", "config": "custom_fn",
                     "registered_name": "custom_fn"}
    text = model.to_json()
    with pytest.raises(ValueError, match="custom_fn"):
        mg.models.model_from_json(text)
    again = mg.models.model_from_json(text, custom_objects={"custom_fn": custom_fn})
    assert again.layers[0].activation is custom_fn
    with custom_object_scope({"custom_fn": custom_fn}):
        assert mg.models.model_from_json(text).layers[0].activation is custom_fn


@register_keras_serializable(package="minigrad_tests")
class Doubler(Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class Unregistered(Doubler):
    pass


def test_registered_layers_load_by_name_and_unregistered_ones_are_named():
    entry = serialize_keras_object(Doubler(3.0))
    assert entry["registered_name"] == "minigrad_tests>Doubler"
    assert entry["module"] == __name__
    assert deserialize_keras_object(entry).factor == 3.0
    assert mg.saving.get_registered_object("minigrad_tests>Doubler") is Doubler
    model = mg.Sequential([mg.Input((2,)), Unregistered(4.0), Doubler()])
    text = model.to_json()
    with pytest.raises(ValueError, match="Unregistered"):
        mg.models.model_from_json(text)
    again = mg.models.model_from_json(text, custom_objects={"Unregistered": Unregistered})
    assert [type(x) for x in again.layers] == [Unregistered, Doubler]
    assert np.array_equal(again.predict(np.ones((1, 2)), verbose=0), [[8.0, 8.0]])


@pytest.mark.parametrize("obj", [
    mg.initializers.HeNormal(seed=3), mg.regularizers.L1L2(l1=0.1, l2=0.2),
    mg.optimizers.Adam(learning_rate=0.01), mg.losses.CategoricalCrossentropy(from_logits=True),
    mg.metrics.SparseCategoricalAccuracy(), mg.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)],
    ids=lambda o: type(o).__name__)
def test_objects_round_trip_in_keras_schema(obj):
    entry = json.loads(json.dumps(serialize_keras_object(obj)))
    assert entry["module"].startswith("keras.") and entry["class_name"] == type(obj).__name__
    again = deserialize_keras_object(entry)
    assert type(again) is type(obj) and again.get_config() == obj.get_config()


def test_unknown_class_in_a_config_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'Frobnicate'.*custom_objects"):
        deserialize_keras_object({"module": "keras.layers", "class_name": "Frobnicate",
                                  "config": {}, "registered_name": None})
    with pytest.raises(ValueError, match="lambda"):
        deserialize_keras_object({"class_name": "__lambda__", "config": {"value": "x"}})


def test_compile_settings_travel_in_json_as_keras_writes_them():
    model = mg.Sequential([mg.Input((3,)), L.Dense(2, activation="softmax")])
    model.compile(optimizer=mg.optimizers.SGD(0.05, momentum=0.5),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    entry = json.loads(model.to_json())
    assert entry["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    assert entry["compile_config"]["optimizer"]["class_name"] == "SGD"
    again = mg.models.model_from_json(model.to_json())
    assert isinstance(again.optimizer, mg.optimizers.SGD) and again.optimizer.momentum == 0.5
    assert again.get_compile_config() == model.get_compile_config()
    assert mg.Sequential([mg.Input((3,)), L.Dense(2)]).get_compile_config() is None

"""keras-io's guide "The Sequential model" (guides/keras_core/sequential_model.py),
section by section, with minigrad in place of Keras.

Each test follows one section of the guide with the same calls. Sections that
need something minigrad does not have yet are skipped with a `needs(...)` marker
naming it and the issue that adds it; they run once it exists. Where the guide
makes inputs with `keras.ops.ones`, these tests pass NumPy arrays (the same
values); `test_the_guides_own_inputs_from_keras_ops` runs the guide's own call.
"""
import numpy as np

import minigrad as keras
from keras_guides import needs
from minigrad import layers


def test_when_to_use_a_sequential_model():
    model = keras.Sequential([layers.Dense(2, activation="relu", name="layer1"),
                              layers.Dense(3, activation="relu", name="layer2"),
                              layers.Dense(4, name="layer3")])
    x = np.ones((3, 3), "float32")
    y = model(x)
    # ... is the same function as calling the layers one after the other
    layer1, layer2, layer3 = model.layers
    np.testing.assert_array_equal(layer3(layer2(layer1(x))).numpy(), y.numpy())


def test_creating_a_sequential_model():
    model = keras.Sequential([layers.Dense(2, activation="relu"),
                              layers.Dense(3, activation="relu"), layers.Dense(4)])
    assert len(model.layers) == 3
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    assert len(model.layers) == 2
    model = keras.Sequential(name="my_sequential")
    model.add(layers.Dense(2, activation="relu", name="layer1"))
    assert model.name == "my_sequential" and model.layers[0].name == "layer1"


def test_specifying_the_input_shape_in_advance(capsys):
    layer = layers.Dense(3)
    assert layer.weights == []                                   # empty
    layer(np.ones((1, 4), "float32"))
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]
    model = keras.Sequential([layers.Dense(2, activation="relu"),
                              layers.Dense(3, activation="relu"), layers.Dense(4)])
    assert model.weights == []                                   # no weights at this stage
    model(np.ones((1, 4), "float32"))
    assert len(model.weights) == 6
    model.summary()
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    model.summary()
    assert len(model.layers) == 1                                # the Input is not a layer
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
    model.summary()
    assert capsys.readouterr().out.count('Model: "sequential') == 3


@needs("layers.GlobalMaxPooling2D")
def test_add_and_summary_debugging_workflow_to_the_end():
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert model.output_shape == (None, 10)


def test_add_and_summary_debugging_workflow(capsys):
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))           # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.summary()
    assert model.output_shape == (None, 40, 40, 32)       # "the answer was (40, 40, 32)"
    for _ in range(2):
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(3 if _ == 0 else 2))
    model.summary()
    assert model.output_shape == (None, 4, 4, 32)         # "4x4 feature maps"
    assert "(None, 4, 4, 32)" in capsys.readouterr().out


def test_feature_extraction_with_a_sequential_model():
    initial_model = keras.Sequential([
        keras.Input(shape=(250, 250, 3)),
        layers.Conv2D(32, 5, strides=2, activation="relu"),
        layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
        layers.Conv2D(32, 3, activation="relu")])
    feature_extractor = keras.Model(inputs=initial_model.inputs,
                                    outputs=[layer.output for layer in initial_model.layers])
    features = feature_extractor(np.ones((1, 250, 250, 3), "float32"))
    assert [f.shape for f in features] == [(1, 123, 123, 32), (1, 121, 121, 32),
                                           (1, 119, 119, 32)]
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output)
    assert feature_extractor(np.ones((1, 250, 250, 3), "float32")).shape == (1, 121, 121, 32)


def test_transfer_learning_blueprints():
    model = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(32, activation="relu"),
                              layers.Dense(32, activation="relu"),
                              layers.Dense(32, activation="relu"), layers.Dense(10)])
    for layer in model.layers[:-1]:                        # freeze all but the last
        layer.trainable = False
    model.compile(optimizer="adam", loss="mse")
    assert [w.shape for w in model.trainable_weights] == [(32, 10), (10,)]
    base_model = keras.Sequential([keras.Input((16,)), layers.Dense(8)])
    base_model.trainable = False                           # a frozen base, a new top
    model = keras.Sequential([base_model, layers.Dense(1000)])
    assert [w.shape for w in model.trainable_weights] == [(8, 1000), (1000,)]


@needs("ops.ones")
def test_the_guides_own_inputs_from_keras_ops():
    from minigrad import ops
    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(4)])
    assert model(ops.ones((3, 3))).shape == (3, 4)

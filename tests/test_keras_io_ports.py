"""A keras-io example that uses BatchNormalization, ported by changing only its imports:
"Image classification with ConvMixer" (tests/keras_io_convmixer.py holds its model code
as the example has it). Its figures for the same code under Keras 3.15 are in
tests/data/keras3_layer_params.json. Sections needing what minigrad lacks (AdamW, the
.weights.h5 checkpoint, tf.data, CIFAR-10's download) skip with a marker."""
import json
import os

import keras_io_convmixer as example
import numpy as np
import pytest
from keras_guides import needs

from minigrad import layers

HERE = os.path.dirname(os.path.abspath(__file__))

KERAS = json.load(open(os.path.join(HERE, "data", "keras3_layer_params.json")))["convmixer"]


@pytest.mark.parametrize("case", KERAS, ids=lambda c: str(c["kwargs"] or "ConvMixer-256/8"))
def test_model_has_keras_parameter_counts(case):
    model = example.get_conv_mixer_256_8(**case["kwargs"])
    trainable = sum(w.size for w in model.trainable_weights)
    assert (model.count_params(), trainable, len(model.layers)) == \
        (case["total"], case["trainable"], case["layers"])


def test_visualisation_section_reads_the_same_layers():
    """The example's introspection: layers[2] is the patch embedding (2, 2, 3, 256), and
    the depthwise 5x5 kernels are found by class and get_config()['kernel_size']."""
    model = example.get_conv_mixer_256_8()
    assert model.layers[2].get_weights()[0].shape == (2, 2, 3, 256)
    found = [i for i, layer in enumerate(model.layers)
             if isinstance(layer, layers.DepthwiseConv2D)
             and layer.get_config()["kernel_size"] == (5, 5)]
    assert 26 in found and len(found) == 8
    kernel = np.expand_dims(model.layers[26].get_weights()[0].squeeze(), axis=2)
    assert kernel.shape == (5, 5, 1, 256)


def test_trains_at_small_size():
    """The example's compile and fit, at a small size on generated 16x16 images with
    Adam (its AdamW: issue 13)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 320)
    patterns = rng.integers(0, 256, (10, 16, 16, 3))
    images = np.clip(patterns[labels] + rng.normal(0, 40, (320, 16, 16, 3)), 0, 255)
    model = example.get_conv_mixer_256_8(image_size=16, filters=16, depth=2, kernel_size=3,
                                         patch_size=2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(images.astype("float32"), labels, batch_size=32, epochs=3,
                        validation_split=0.1, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert history.history["accuracy"][-1] > 0.3   # chance: 0.1


@needs("optimizers.AdamW")
def test_run_experiment_optimizer():
    import minigrad as keras
    model = example.get_conv_mixer_256_8(image_size=8, filters=8, depth=1, kernel_size=3)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(1).integers(0, 256, (8, 8, 8, 3)).astype("float32")
    model.fit(x, np.arange(8) % 10, batch_size=4, epochs=1, verbose=0)

"""Functional models over inputs of unknown size, as Keras allows them
(`Input(shape=(None, None, 3))`, `Input(shape=(None, 10))`): every layer that
can take such an input gives None where the size is unknown, and the model then
runs on data of any size."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L

IMAGE_LAYERS = {
    "Conv2D": lambda: L.Conv2D(2, 3), "Conv2D_same": lambda: L.Conv2D(2, 3, padding="same"),
    "MaxPooling2D": lambda: L.MaxPooling2D(2), "AveragePooling2D": lambda: L.AveragePooling2D(2),
    "GlobalAveragePooling2D": lambda: L.GlobalAveragePooling2D(),
    "GlobalMaxPooling2D": lambda: L.GlobalMaxPooling2D(),
    "DepthwiseConv2D": lambda: L.DepthwiseConv2D(3),
    "SeparableConv2D": lambda: L.SeparableConv2D(2, 3),
    "Conv2DTranspose": lambda: L.Conv2DTranspose(2, 3, strides=2),
    "Conv2DTranspose_same": lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same"),
    "ZeroPadding2D": lambda: L.ZeroPadding2D(1), "Cropping2D": lambda: L.Cropping2D(1),
    "UpSampling2D": lambda: L.UpSampling2D(2), "BatchNormalization": lambda: L.BatchNormalization(),
    "LayerNormalization": lambda: L.LayerNormalization(), "Dense": lambda: L.Dense(3),
}
SEQUENCE_LAYERS = {
    "Conv1D": lambda: L.Conv1D(2, 3), "Conv1D_same": lambda: L.Conv1D(2, 3, padding="same"),
    "Conv1D_causal": lambda: L.Conv1D(2, 3, padding="causal"),
    "MaxPooling1D": lambda: L.MaxPooling1D(2), "AveragePooling1D": lambda: L.AveragePooling1D(2),
    "GlobalAveragePooling1D": lambda: L.GlobalAveragePooling1D(),
    "GlobalMaxPooling1D": lambda: L.GlobalMaxPooling1D(),
}
CASES = [((None, None, 3), n, m) for n, m in IMAGE_LAYERS.items()] + \
    [((None, 4), n, m) for n, m in SEQUENCE_LAYERS.items()]


@pytest.mark.parametrize("shape, name, make", CASES, ids=[c[1] for c in CASES])
def test_layer_on_an_input_of_unknown_size(shape, name, make):
    inputs = mg.Input(shape=shape)
    layer = make()
    outputs = layer(inputs)
    model = mg.Model(inputs, outputs)
    for size in (7, 9):   # the same model on two sizes
        x = np.random.default_rng(size).random((2,) + tuple(
            size if s is None else s for s in shape)).astype("float32")
        y = model.predict(x, verbose=0)
        want = layer.compute_output_shape(x.shape)
        assert y.shape == tuple(want)
        # the symbolic shape is the concrete one with the unknown sizes left None
        assert len(outputs.shape) == y.ndim and outputs.shape[0] is None
        assert all(s is None or s == n for s, n in zip(outputs.shape[1:], y.shape[1:]))

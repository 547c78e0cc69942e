"""Every new layer in float64 against central differences (mg.testing.gradcheck), with
respect to its input and every trainable weight, on the CPU (the CUDA twins of
each kernel are checked against the CPU in tests/cuda/test_parity.py, and a few
layers through autograd on CUDA in tests/cuda/test_cuda_layers.py)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L
from minigrad.testing import gradcheck


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    """gradcheck runs thousands of tiny forwards: thread wake-ups would dominate."""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def _randomise(layer, rng, scale=0.5):
    """Random values in every weight (zeros or ones would hide gradients)."""
    values = [rng.standard_normal(w.shape) * scale + (0.5 if w.ndim == 1 else 0)
              for w in layer.get_weights()]
    layer.set_weights([np.abs(v) + 0.1 if w.name.endswith("variance") else v
                       for v, w in zip(values, layer.weights)])


def check(layer, shape, rng, training=None, scale=1.0, randomise=True, **call):
    x = mg.Tensor(rng.standard_normal(shape) * scale, requires_grad=True)
    kw = dict(call) if training is None else dict(call, training=training)
    layer(x, **kw)  # builds
    if randomise:
        _randomise(layer, rng)
    weights = [w for w in layer.weights if w.requires_grad]
    assert gradcheck(lambda x, *ws: layer(x, **kw), (x, *weights))


CASES = {  # name: (layer factory, input shape, call kwargs)
    "batchnorm_train": (lambda: L.BatchNormalization(dtype="float64"), (4, 3, 3, 2),
                        dict(training=True)),
    "batchnorm_train_axis1": (lambda: L.BatchNormalization(axis=1, dtype="float64"),
                              (3, 2, 4), dict(training=True)),
    "batchnorm_train_no_affine": (lambda: L.BatchNormalization(center=False, scale=False,
                                                               dtype="float64"), (5, 3),
                                  dict(training=True)),
    "batchnorm_inference": (lambda: L.BatchNormalization(dtype="float64"), (4, 3, 3, 2),
                            dict(training=False)),
    "batchnorm_frozen_in_training": (
        lambda: L.BatchNormalization(dtype="float64", trainable=False), (4, 2, 2, 3),
        dict(training=True)),
    "layernorm": (lambda: L.LayerNormalization(dtype="float64"), (3, 4, 5), {}),
    "layernorm_axes12": (lambda: L.LayerNormalization(axis=[1, 2], dtype="float64"),
                         (2, 3, 4, 2), {}),
    "layernorm_axis1": (lambda: L.LayerNormalization(axis=1, dtype="float64"), (2, 4, 3), {}),
    "layernorm_no_affine": (lambda: L.LayerNormalization(center=False, scale=False,
                                                         dtype="float64"), (3, 6), {}),
    "avgpool_valid": (lambda: L.AveragePooling2D(2, dtype="float64"), (2, 5, 4, 2), {}),
    "avgpool_same": (lambda: L.AveragePooling2D(3, 2, padding="same", dtype="float64"),
                     (1, 5, 6, 2), {}),
    "global_avg": (lambda: L.GlobalAveragePooling2D(dtype="float64"), (2, 3, 4, 2), {}),
    "global_max_keepdims": (lambda: L.GlobalMaxPooling2D(keepdims=True, dtype="float64"),
                            (2, 3, 4, 2), {}),
    "maxpool1d": (lambda: L.MaxPooling1D(3, 2, padding="same", dtype="float64"), (2, 7, 2), {}),
    "avgpool1d": (lambda: L.AveragePooling1D(2, dtype="float64"), (2, 7, 2), {}),
    "global_avg1d": (lambda: L.GlobalAveragePooling1D(dtype="float64"), (2, 5, 3), {}),
    "global_max1d": (lambda: L.GlobalMaxPooling1D(dtype="float64"), (2, 5, 3), {}),
    "conv1d": (lambda: L.Conv1D(3, 3, strides=2, padding="same", dtype="float64"),
               (2, 7, 2), {}),
    "conv1d_causal_dilated": (lambda: L.Conv1D(2, 2, padding="causal", dilation_rate=2,
                                               activation="relu", dtype="float64"),
                              (2, 6, 3), {}),
    "conv1d_groups": (lambda: L.Conv1D(4, 3, groups=2, dtype="float64"), (1, 6, 4), {}),
    "conv2d_groups": (lambda: L.Conv2D(6, 3, padding="same", groups=3, dtype="float64"),
                      (2, 4, 4, 3), {}),
    "conv2d_groups_gemm": (lambda: L.Conv2D(4, 2, strides=2, groups=2, dtype="float64"),
                           (1, 4, 4, 16), {}),
    "depthwise": (lambda: L.DepthwiseConv2D(3, 2, padding="same", depth_multiplier=2,
                                            dtype="float64"), (2, 5, 5, 2), {}),
    "depthwise_dilated_relu": (lambda: L.DepthwiseConv2D(2, dilation_rate=2, activation="relu",
                                                         dtype="float64"), (1, 5, 5, 3), {}),
    "separable": (lambda: L.SeparableConv2D(3, 3, depth_multiplier=2, dtype="float64"),
                  (1, 5, 5, 2), {}),
    "conv_transpose_valid_s2": (lambda: L.Conv2DTranspose(2, 3, strides=2, dtype="float64"),
                                (2, 3, 3, 2), {}),
    "conv_transpose_same_s2": (lambda: L.Conv2DTranspose(2, (2, 3), strides=2, padding="same",
                                                         dtype="float64"), (1, 3, 4, 2), {}),
    "conv_transpose_output_padding": (
        lambda: L.Conv2DTranspose(3, 3, strides=(2, 3), padding="same", output_padding=(1, 2),
                                  activation="relu", dtype="float64"), (1, 3, 2, 2), {}),
    "conv_transpose_dilated": (lambda: L.Conv2DTranspose(2, 2, dilation_rate=2, dtype="float64"),
                               (1, 3, 3, 1), {}),
    "reshape": (lambda: L.Reshape((-1, 2), dtype="float64"), (2, 3, 4), {}),
    "permute": (lambda: L.Permute((2, 3, 1), dtype="float64"), (2, 3, 4, 2), {}),
    "repeat_vector": (lambda: L.RepeatVector(3, dtype="float64"), (2, 4), {}),
    "zero_padding": (lambda: L.ZeroPadding2D(((1, 0), (2, 1)), dtype="float64"),
                     (2, 3, 2, 2), {}),
    "cropping": (lambda: L.Cropping2D(((1, 0), (0, 2)), dtype="float64"), (2, 4, 5, 2), {}),
    "upsampling_nearest": (lambda: L.UpSampling2D((2, 3), dtype="float64"), (2, 2, 3, 2), {}),
    "upsampling_bilinear": (lambda: L.UpSampling2D(2, interpolation="bilinear", dtype="float64"),
                            (2, 3, 4, 2), {}),
    "rescaling": (lambda: L.Rescaling(0.5, offset=-1.0, dtype="float64"), (2, 3), {}),
    "softmax_axes": (lambda: L.Softmax(axis=[1, 2], dtype="float64"), (2, 3, 2, 2), {}),
    "leaky_relu": (lambda: L.LeakyReLU(0.2, dtype="float64"), (3, 4), {}),
    "elu": (lambda: L.ELU(0.7, dtype="float64"), (3, 4), {}),
    "prelu_shared": (lambda: L.PReLU(shared_axes=[1, 2], dtype="float64"), (2, 3, 3, 2), {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_gradcheck(name, rng):
    make, shape, call = CASES[name]
    layer = make()
    training = call.pop("training", None) if call else None
    check(layer, shape, rng, training=training, **call)
    call_again = dict(CASES[name][2])
    assert layer(mg.Tensor(rng.standard_normal(shape)), **call_again).dtype == np.float64


def test_softmax_with_mask_gradcheck(rng):
    layer = L.Softmax(dtype="float64")
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0]], bool)
    x = mg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = layer(x, mask=mask).numpy()
    assert (y[~mask] == 0).all()
    np.testing.assert_allclose(y.sum(-1), 1.0)
    assert gradcheck(lambda x: layer(x, mask=mask), (x,))


def test_normalization_gradcheck(rng):
    layer = L.Normalization(dtype="float64")
    layer.adapt(rng.standard_normal((20, 3)) * 2 + 1)
    check(layer, (4, 3), rng, randomise=False)


def test_embedding_gradcheck(rng):
    layer = L.Embedding(6, 3, dtype="float64")
    ids = np.array([[1, 5, 1], [0, 1, 3]])
    assert gradcheck(lambda w: layer(ids), (layer.embeddings,))

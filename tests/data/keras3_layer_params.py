"""Writes keras3_layer_params.json: for Sequential models built from issue 14's layers, what
Keras 3 reports (each layer's output shape and count_params, the model's total, trainable
and non-trainable counts), and MultiHeadAttention's count_params for a few calls. Run with
real Keras (it is not a minigrad dependency):

    KERAS_BACKEND=jax python tests/data/keras3_layer_params.py

tests/test_keras_layer_params.py builds the same specs with minigrad and compares.
"""
import json
import os

import keras
import numpy as np

MODELS = {
    "cifar_bn": ((32, 32, 3), [
        ["Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same", "use_bias": False}],
        ["BatchNormalization", {"momentum": 0.9}], ["ReLU", {}], ["MaxPooling2D", {"pool_size": 2}],
        ["Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same", "use_bias": False}],
        ["BatchNormalization", {"momentum": 0.9}], ["ReLU", {}], ["MaxPooling2D", {"pool_size": 2}],
        ["Conv2D", {"filters": 128, "kernel_size": 3, "padding": "same", "use_bias": False}],
        ["BatchNormalization", {"momentum": 0.9}], ["ReLU", {}],
        ["GlobalAveragePooling2D", {}], ["Dense", {"units": 10, "activation": "softmax"}]]),
    "convolutions": ((16, 16, 4), [
        ["ZeroPadding2D", {"padding": [[1, 2], [0, 1]]}],
        ["Conv2D", {"filters": 8, "kernel_size": 3, "groups": 2}],
        ["DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}],
        ["SeparableConv2D", {"filters": 6, "kernel_size": 3, "depth_multiplier": 2}],
        ["Conv2DTranspose", {"filters": 5, "kernel_size": 3, "strides": 2, "padding": "same"}],
        ["Conv2DTranspose", {"filters": 3, "kernel_size": 2, "strides": 2, "output_padding": 1}],
        ["Cropping2D", {"cropping": [[2, 1], [3, 0]]}],
        ["AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}],
        ["UpSampling2D", {"size": 2, "interpolation": "bilinear"}],
        ["LayerNormalization", {"axis": [1, 2, 3]}],
        ["PReLU", {"shared_axes": [1, 2]}],
        ["GlobalMaxPooling2D", {"keepdims": True}],
        ["Reshape", {"target_shape": [-1]}]]),
    "sequences": ((12, 5), [
        ["Conv1D", {"filters": 8, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}],
        ["BatchNormalization", {}], ["LeakyReLU", {"negative_slope": 0.1}],
        ["MaxPooling1D", {"pool_size": 2}],
        ["Conv1D", {"filters": 6, "kernel_size": 2, "groups": 2, "padding": "same"}],
        ["AveragePooling1D", {"pool_size": 2, "strides": 1, "padding": "same"}],
        ["LayerNormalization", {}], ["ELU", {}],
        ["Permute", {"dims": [2, 1]}], ["GlobalAveragePooling1D", {}],
        ["RepeatVector", {"n": 3}], ["GlobalMaxPooling1D", {}],
        ["Dense", {"units": 4}], ["Softmax", {}]]),
    "embedding": ((7,), [
        ["Embedding", {"input_dim": 50, "output_dim": 6}],
        ["SpatialDropout1D_skip", {}],
        ["GaussianNoise", {"stddev": 0.1}], ["Flatten", {}],
        ["Rescaling", {"scale": 0.5, "offset": 1.0}],
        ["Normalization", {}], ["ActivityRegularization_skip", {}], ["Dense", {"units": 3}]]),
}
MHA = [  # (kwargs, query shape, value shape)
    ({"num_heads": 2, "key_dim": 3, "value_dim": 4}, (2, 5, 6), (2, 7, 8)),
    ({"num_heads": 4, "key_dim": 16}, (2, 14, 112), (2, 14, 112)),
    ({"num_heads": 2, "key_dim": 3, "attention_axes": [2], "output_shape": [5]}, (2, 4, 6, 8),
     (2, 4, 6, 8)),
    ({"num_heads": 3, "key_dim": 2, "use_bias": False}, (1, 3, 4), (1, 3, 4)),
]


CONVMIXER = [dict(image_size=16, filters=16, depth=2, kernel_size=3, patch_size=2),
             dict()]   # the example's own ConvMixer-256/8


def convmixer_counts():
    """tests/keras_io_convmixer.py's code run with Keras: its imports swapped back."""
    import types
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "keras_io_convmixer.py")
    source = open(path).read().replace("import minigrad as keras", "import keras").replace(
        "from minigrad import layers", "from keras import layers")
    module = types.ModuleType("convmixer")
    exec(compile(source, path, "exec"), module.__dict__)
    out = []
    for kwargs in CONVMIXER:
        model = module.get_conv_mixer_256_8(**kwargs)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        out.append({"kwargs": kwargs, "total": model.count_params(), "trainable": trainable,
                    "layers": len(model.layers)})
    return out


def layers_of(spec):
    return [(name, kw) for name, kw in spec if not name.endswith("_skip")]


def main():
    out = {"keras": keras.__version__, "models": {}, "mha": []}
    for name, (shape, spec) in MODELS.items():
        model = keras.Sequential([keras.Input(shape)] + [getattr(keras.layers, n)(**kw)
                                                         for n, kw in layers_of(spec)])
        rows = [[type(l).__name__, list(l.output.shape), l.count_params()] for l in model.layers]
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        out["models"][name] = {"input_shape": list(shape), "layers": layers_of(spec),
                               "rows": rows, "total": model.count_params(),
                               "trainable": trainable,
                               "non_trainable": model.count_params() - trainable}
    for kwargs, qs, vs in MHA:
        layer = keras.layers.MultiHeadAttention(**kwargs)
        # with the scores: Keras 3.15 JAX's fused path rejects value_dim != key_dim
        y, _ = layer(np.zeros(qs, "float32"), np.zeros(vs, "float32"),
                     return_attention_scores=True)
        out["mha"].append({"kwargs": kwargs, "query": list(qs), "value": list(vs),
                           "output": list(y.shape), "count_params": layer.count_params(),
                           "weights": [list(w.shape) for w in layer.weights]})
    out["convmixer"] = convmixer_counts()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras3_layer_params.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

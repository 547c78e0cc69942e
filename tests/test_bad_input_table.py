"""Bad input at every public boundary: a table of (call, exception, message fragment).

Each case must raise the listed exception, with the fragment in its message,
before any Numba kernel runs (a tripwire replaces every CPU kernel while the
case runs). The whole table also runs once in a subprocess (`python
tests/test_bad_input_table.py`), under a timeout, so a crash (segfault, Numba
typing error escaping, abort) or a hang is a test failure.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import minigrad as mg  # noqa: E402
from minigrad import layers as L  # noqa: E402
from numba.core.registry import CPUDispatcher  # noqa: E402


# ------------------------------------------------------------------ fixtures
def _model(compile_="sparse_categorical_crossentropy", input_shape=(8, 8, 1)):
    m = mg.Sequential([L.Conv2D(2, 3, activation="relu", input_shape=input_shape),
                       L.MaxPooling2D(2), L.Flatten(), L.Dense(3, activation="softmax")])
    if compile_:
        m.compile(optimizer="adam", loss=compile_, metrics=["accuracy"])
    return m


def _mse_model():
    m = mg.Sequential([L.Dense(2, input_shape=(4,))])
    m.compile(optimizer="sgd", loss="mse")
    return m


X = np.zeros((6, 8, 8, 1), np.float32)
Y = np.array([0, 1, 2, 0, 1, 2])


def _with(arr, index, value):
    arr = arr.copy()
    arr[index] = value
    return arr


def _fit(**kw):
    args = dict(x=X, y=Y, epochs=1, batch_size=2, verbose=0)
    args.update(kw)
    return _model().fit(**args)


def _built_conv(channels=3):
    layer = L.Conv2D(4, 3)
    layer.ensure_built((None, 8, 8, channels))
    return layer


def _mha_wrong_weights():
    """set_weights with num_heads * key_dim not the layer's (built without a kernel run)."""
    layer = L.MultiHeadAttention(2, 3, name="mha0")
    layer.build((1, 4, 5), (1, 6, 5))
    layer.set_weights([np.zeros((5, 4, 3))] + layer.get_weights()[1:])


def _saved(tmp, name="m.npz"):
    path = os.path.join(tmp, name)
    _model().save(path)
    return path


def _truncated(tmp):
    path = _saved(tmp)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return mg.load_model(path)


def _corrupted(tmp):
    path = _saved(tmp)
    data = bytearray(open(path, "rb").read())
    for i in range(len(data) // 3, len(data) // 3 + 64):  # inside the first arrays
        data[i] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))
    return mg.load_model(path)


def _garbage(tmp):
    path = os.path.join(tmp, "garbage.npz")
    with open(path, "wb") as f:
        f.write(b"this is not a zip file at all" * 10)
    return mg.load_model(path)


def _empty_file(tmp):
    path = os.path.join(tmp, "empty.npz")
    open(path, "wb").close()
    return mg.load_model(path)


def _foreign_npz(tmp):
    path = os.path.join(tmp, "foreign.npz")
    np.savez(path, a=np.zeros(3), b=np.ones(2))
    return mg.load_model(path)


def _foreign_format(tmp):
    path = os.path.join(tmp, "keras.npz")
    meta = {"format": "keras.Model", "model": {}}
    np.savez(path, config=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return mg.load_model(path)


def _rewrite_config(tmp, edit):
    """Save a model, then rewrite its JSON config with `edit(meta)`."""
    path = _saved(tmp)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files}
    meta = json.loads(bytes(arrays["config"]).decode())
    edit(meta)
    arrays["config"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    return mg.load_model(path)


def _unknown_class(tmp):  # layers[0] is the InputLayer (Keras 3's Sequential config)
    return _rewrite_config(tmp, lambda m: m["model"]["layers"][1].update(class_name="Conv3D"))


def _bad_layer_config(tmp):
    return _rewrite_config(tmp, lambda m: m["model"]["layers"][1]["config"].update(filters=-4))


def _weights_tampered(tmp):
    path = _saved(tmp)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files}
    arrays["weight_0000"] = np.zeros((5, 5, 1, 2), np.float32)
    np.savez(path, **arrays)
    return mg.load_model(path)


def _weights_missing(tmp):
    path = _saved(tmp)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files if k != "weight_0003"}
    np.savez(path, **arrays)
    return mg.load_model(path)


def _zip_not_npz(tmp):
    path = os.path.join(tmp, "other.zip")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    return mg.load_model(path)


# ---- fixtures of the tensor / loss / optimizer / callback / dataset cases
def _leaf(values):
    return mg.Tensor(np.asarray(values, np.float64), requires_grad=True)


def _second_backward(tmp):
    x = _leaf([1.0, 2.0])
    y = x * x
    (y * 2).sum().backward()
    return (y * 3).sum().backward()


class _ListBackward(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, grad):
        return [grad]


def _reused_optimizer(tmp, filters=2):
    """An Adam built for one model's weights, then given to another (same count)."""
    opt = mg.optimizers.Adam()
    opt.build(_model().trainable_weights)
    other = mg.Sequential([L.Conv2D(filters, 3, activation="relu", input_shape=(8, 8, 1)),
                           L.MaxPooling2D(2), L.Flatten(), L.Dense(3, activation="softmax")])
    other.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    return other.fit(X, Y, epochs=1, batch_size=2, verbose=0)


def _checkpoint_under_a_file(tmp):
    open(os.path.join(tmp, "plain.txt"), "w").close()
    return _fit(callbacks=[mg.callbacks.ModelCheckpoint(os.path.join(tmp, "plain.txt", "c.npz"))])


def _mnist_folder(tmp, edit):
    """A valid four-file MNIST folder (gzipped), then `edit(bytes of the training
    images .gz)` -> new bytes for that file; loads it."""
    import gzip
    import struct

    def idx(arr):
        return bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + \
            arr.astype(np.uint8).tobytes()
    files = {"train-images-idx3-ubyte": idx(np.arange(32).reshape(2, 4, 4)),
             "train-labels-idx1-ubyte": idx(np.zeros(2)),
             "t10k-images-idx3-ubyte": idx(np.zeros((1, 4, 4))),
             "t10k-labels-idx1-ubyte": idx(np.zeros(1))}
    for name, data in files.items():
        data = gzip.compress(data)
        with open(os.path.join(tmp, name + ".gz"), "wb") as f:
            f.write(edit(data) if name.startswith("train-images") else data)
    return mg.datasets.mnist.load_data(path=tmp)


def _flip_deflate_bytes(data):
    data = bytearray(data)
    for i in range(12, 18):  # inside the compressed stream: zlib.error
        data[i] ^= 0xFF
    return bytes(data)


def _huge_dims(_):
    import gzip
    return gzip.compress(bytes([0, 0, 8, 4]) + bytes([0, 1, 0, 0]) * 4)  # 65536^4 = 2^64


# (id, function of a temp dir, exception type, message fragment)
CASES = [
    # ---- layer arguments
    ("conv_filters_zero", lambda t: L.Conv2D(0, 3), ValueError, "`filters` must be a positive int, got 0"),
    ("conv_filters_str", lambda t: L.Conv2D("8", 3), TypeError, "`filters` must be a positive int, got '8'"),
    ("conv_kernel_float", lambda t: L.Conv2D(8, 3.5), TypeError, "`kernel_size` must be an int or a tuple of 2 ints, got 3.5"),
    ("conv_kernel_3d", lambda t: L.Conv2D(8, (3, 3, 3)), TypeError, "`kernel_size` must be an int or a tuple of 2 ints"),
    ("conv_kernel_zero", lambda t: L.Conv2D(8, 0), ValueError, "`kernel_size` must be >= 1, got (0, 0)"),
    ("conv_strides_zero", lambda t: L.Conv2D(8, 3, strides=0), ValueError, "`strides` must be >= 1"),
    ("conv_padding_name", lambda t: L.Conv2D(8, 3, padding="full"), ValueError, "`padding` must be 'valid' or 'same', got 'full'"),
    ("conv_dilation_zero", lambda t: L.Conv2D(8, 3, dilation_rate=(1, 0)), ValueError, "`dilation_rate` must be >= 1, got (1, 0)"),
    ("conv_activation_name", lambda t: L.Conv2D(8, 3, activation="gelux"), ValueError, "unknown activation 'gelux'"),
    ("conv_data_format", lambda t: L.Conv2D(8, 3, data_format="channels_first"), ValueError, "data_format='channels_last'"),
    ("conv_initializer", lambda t: L.Conv2D(8, 3, kernel_initializer="lecun"), ValueError, "unknown initializer 'lecun'"),
    ("conv_use_bias_str", lambda t: L.Conv2D(8, 3, use_bias="no"), TypeError, "`use_bias` must be a bool, got 'no'"),
    ("conv_unknown_kwarg", lambda t: L.Conv2D(8, 3, kernel_regulariser="l2"), TypeError, "unexpected keyword argument(s) ['kernel_regulariser']"),
    ("conv_name_empty", lambda t: L.Conv2D(8, 3, name=""), TypeError, "`name` must be a non-empty string"),
    ("conv_dtype_int", lambda t: L.Conv2D(8, 3, dtype="int32"), TypeError, "dtype must be float32 or float64, got 'int32'"),
    ("conv_input_shape_neg", lambda t: L.Conv2D(8, 3, input_shape=(28, -28, 1)), ValueError, "`input_shape` must be a tuple of positive ints"),
    ("conv_input_rank", lambda t: mg.Sequential([L.Conv2D(8, 3, input_shape=(28, 28))]), ValueError, "expected ndim=4, found ndim=3"),
    ("conv_kernel_too_big", lambda t: L.Conv2D(2, 5, name="big")(np.zeros((1, 3, 3, 1), "f4")), ValueError, "Conv2D 'big': kernel_size (5, 5)"),
    ("conv_dilated_too_big", lambda t: L.Conv2D(2, 3, dilation_rate=4)(np.zeros((1, 8, 8, 1), "f4")), ValueError, "is larger than the 'valid' input (8, 8)"),
    ("conv_call_rank", lambda t: L.Conv2D(2, 3)(np.zeros((1, 8, 8), "f4")), ValueError, "expected ndim=4, found ndim=3"),
    ("conv_call_channels", lambda t: _built_conv(3)(np.zeros((1, 8, 8, 4), "f4")), ValueError, "expected axis -1 of input shape to have value 3"),
    ("conv_call_strings", lambda t: L.Conv2D(2, 3)(np.array([["a"]])), TypeError, "expected a numeric array or Tensor"),
    ("dense_units_zero", lambda t: L.Dense(0), ValueError, "`units` must be a positive int, got 0"),
    ("dense_units_float", lambda t: L.Dense(2.5), TypeError, "`units` must be a positive int, got 2.5"),
    ("dense_call_rank1", lambda t: L.Dense(3)(np.zeros(5, "f4")), ValueError, "expected min_ndim=2, found ndim=1"),
    ("dropout_rate_one", lambda t: L.Dropout(1.0), ValueError, "`rate` must be a float in [0, 1), got 1.0"),
    ("dropout_rate_neg", lambda t: L.Dropout(-0.1), ValueError, "`rate` must be a float in [0, 1), got -0.1"),
    ("dropout_rate_str", lambda t: L.Dropout("half"), ValueError, "`rate` must be a float in [0, 1), got 'half'"),
    ("dropout_seed_str", lambda t: L.Dropout(0.5, seed="abc"), TypeError, "`seed` must be None or a non-negative int, got 'abc'"),
    ("pool_size_zero", lambda t: L.MaxPooling2D(0), ValueError, "`pool_size` must be >= 1, got (0, 0)"),
    ("pool_strides_zero", lambda t: L.MaxPooling2D(2, strides=(0, 1)), ValueError, "`strides` must be >= 1, got (0, 1)"),
    ("pool_padding", lambda t: L.MaxPooling2D(2, padding="causal"), ValueError, "`padding` must be 'valid' or 'same', got 'causal'"),
    ("pool_too_big", lambda t: L.MaxPooling2D(3, name="p")(np.zeros((1, 2, 2, 1), "f4")), ValueError, "MaxPooling2D 'p': pool_size (3, 3) is larger"),
    ("activation_name", lambda t: L.Activation("swishy"), ValueError, "unknown activation 'swishy'"),
    ("input_shape_zero", lambda t: L.Input((0, 3)), ValueError, "`shape` must be a tuple of positive ints"),
    ("sequential_not_list", lambda t: mg.Sequential(L.Dense(2)), TypeError, "`layers` must be a list of layers, got Dense"),
    ("sequential_non_layer", lambda t: mg.Sequential([L.Dense(2), "relu"]), TypeError, "expected a minigrad.layers.Layer, got str"),
    ("sequential_dup_name", lambda t: mg.Sequential([L.Dense(2, name="d"), L.Dense(2, name="d")]), ValueError, "'d' is already in the model"),
    # ---- compile / optimizers
    ("compile_optimizer", lambda t: _model(None).compile(optimizer="adamz", loss="mse"), ValueError, "Could not interpret optimizer identifier: 'adamz'"),
    ("compile_loss", lambda t: _model(None).compile(loss="hinge_of_doom"), ValueError, "Could not interpret loss identifier: 'hinge_of_doom'"),
    ("compile_metrics_str", lambda t: _model(None).compile(loss="mse", metrics="accuracy"), TypeError, "`metrics` must be a list"),
    ("compile_metric_name", lambda t: _model(None).compile(loss="mse", metrics=["f1"]), ValueError, "Could not interpret metric identifier: 'f1'"),
    ("adam_lr_negative", lambda t: mg.optimizers.Adam(learning_rate=-1e-3), ValueError, "Adam: `learning_rate` must be a finite number > 0.0, got -0.001"),
    ("sgd_momentum", lambda t: mg.optimizers.SGD(momentum=1.5), ValueError, "SGD: `momentum` must be a finite number in [0.0, 1.0], got 1.5"),
    # ---- fit / evaluate / predict inputs
    ("fit_not_compiled", lambda t: _model(None).fit(X, Y, verbose=0), ValueError, "must be compiled"),
    ("fit_x_rank", lambda t: _fit(x=X[..., 0]), ValueError, "expects inputs of shape (None, 8, 8, 1), got (6, 8, 8)"),
    ("fit_x_channels", lambda t: _fit(x=np.zeros((6, 8, 8, 3), "f4")), ValueError, "expects inputs of shape (None, 8, 8, 1), got (6, 8, 8, 3)"),
    ("fit_x_strings", lambda t: _fit(x=np.full((6, 8, 8, 1), "a")), TypeError, "`x` must be numeric, got dtype <U1"),
    ("fit_x_complex", lambda t: _fit(x=X.astype(np.complex64)), TypeError, "`x` must be real numbers, got dtype complex64"),
    ("fit_x_ragged", lambda t: _fit(x=[[1, 2], [3]]), ValueError, "`x` must be a rectangular numeric array"),
    ("fit_x_none", lambda t: _fit(x=None), ValueError, "fit: `x` is required"),
    ("fit_x_empty", lambda t: _fit(x=X[:0], y=Y[:0]), ValueError, "`x` is empty"),
    ("fit_x_nan", lambda t: _fit(x=_with(X, (2, 3, 3, 0), np.nan)), ValueError, "`x` contains NaN or infinite values"),
    ("fit_x_inf", lambda t: _fit(x=_with(X, (0, 0, 0, 0), np.inf)), ValueError, "`x` contains NaN or infinite values"),
    ("fit_x_overflows_f32", lambda t: _fit(x=_with(X.astype("f8"), (0, 0, 0, 0), 1e300)), ValueError, "`x` contains NaN or infinite values"),
    ("fit_len_mismatch", lambda t: _fit(y=Y[:5]), ValueError, "x and y must have the same number of samples, got 6 and 5"),
    ("fit_y_none", lambda t: _fit(y=None), ValueError, "`y` (the targets) is required"),
    ("fit_label_too_big", lambda t: _fit(y=_with(Y, 0, 3)), ValueError, "labels must be in [0, 3) for a model with 3 outputs, got values in [0, 3]"),
    ("fit_label_negative", lambda t: _fit(y=_with(Y, 0, -1)), ValueError, "labels must be in [0, 3)"),
    ("fit_label_fractional", lambda t: _fit(y=Y + 0.5), TypeError, "expected integer class ids, got dtype float64"),
    ("fit_label_nan", lambda t: _fit(y=_with(Y.astype("f8"), 1, np.nan)), ValueError, "`y` contains NaN or infinite values"),
    ("fit_label_onehot", lambda t: _fit(y=np.eye(3)[Y]), ValueError, "expected integer class ids of shape (samples,), got shape (6, 3)"),
    ("fit_onehot_width", lambda t: _model("categorical_crossentropy").fit(X, np.eye(4)[Y], verbose=0), ValueError, "expected one-hot targets of shape (samples, 3), got shape (6, 4)"),
    ("fit_mse_target_shape", lambda t: _mse_model().fit(np.zeros((4, 4)), np.zeros((4, 3)), verbose=0), ValueError, "expected targets of shape (samples, 2), got shape (4, 3)"),
    ("fit_mse_target_inf", lambda t: _mse_model().fit(np.zeros((4, 4)), _with(np.zeros((4, 2)), (1, 1), np.inf), verbose=0), ValueError, "`y` contains NaN or infinite values"),
    ("fit_batch_size_zero", lambda t: _fit(batch_size=0), ValueError, "`batch_size` must be an int >= 1, got 0"),
    ("fit_batch_size_float", lambda t: _fit(batch_size=2.5), ValueError, "`batch_size` must be an int >= 1, got 2.5"),
    ("fit_epochs_zero", lambda t: _fit(epochs=0), ValueError, "`epochs` must be an int >= 1, got 0"),
    ("fit_initial_epoch_neg", lambda t: _fit(initial_epoch=-1), ValueError, "`initial_epoch` must be an int >= 0, got -1"),
    ("fit_validation_split", lambda t: _fit(validation_split=1.0), ValueError, "`validation_split` must be a float in [0, 1), got 1.0"),
    ("fit_validation_split_all", lambda t: _fit(validation_split=0.9), ValueError, "leaves no training samples out of 6"),
    ("fit_validation_data", lambda t: _fit(validation_data=X), ValueError, "`validation_data` must be a tuple (x_val, y_val)"),
    ("fit_validation_labels", lambda t: _fit(validation_data=(X, Y + 7)), ValueError, "labels must be in [0, 3)"),
    ("fit_verbose", lambda t: _fit(verbose=3), ValueError, "`verbose` must be 'auto', 0, 1 or 2, got 3"),
    ("fit_callbacks_not_list", lambda t: _fit(callbacks=mg.callbacks.EarlyStopping()), TypeError, "fit: `callbacks` must be a list of Callbacks, got EarlyStopping"),
    ("fit_callback_type", lambda t: _fit(callbacks=[print]), TypeError, "callbacks must be minigrad.callbacks.Callback"),
    ("evaluate_not_compiled", lambda t: _model(None).evaluate(X, Y, verbose=0), ValueError, "evaluate: the model must be compiled"),
    ("evaluate_channels", lambda t: _model().evaluate(np.zeros((6, 8, 8, 2)), Y, verbose=0), ValueError, "evaluate: model"),
    ("predict_rank", lambda t: _model(None).predict(np.zeros((8, 8, 1)), verbose=0), ValueError, "predict: model"),
    ("predict_nan", lambda t: _model(None).predict(_with(X, (1, 1, 1, 0), np.nan), verbose=0), ValueError, "predict: `x` contains NaN"),
    ("predict_dict", lambda t: _model(None).predict({"x": X}, verbose=0), TypeError, "`x` must be numeric, got dtype object"),
    ("predict_batch_size", lambda t: _model(None).predict(X, batch_size=-2, verbose=0), ValueError, "`batch_size` must be an int >= 1, got -2"),
    ("unbuilt_summary", lambda t: mg.Sequential([L.Dense(2)]).summary(), ValueError, "has not been built yet"),
    # ---- set_weights
    ("set_weights_count", lambda t: _model(None).set_weights([np.zeros((3, 3, 1, 2))]), ValueError, "set_weights expected 4 arrays, got 1"),
    ("set_weights_shape", lambda t: _model(None).layers[0].set_weights([np.zeros((3, 3, 1, 3)), np.zeros(2)]), ValueError, "has shape (3, 3, 1, 2), got an array of shape (3, 3, 1, 3)"),
    ("set_weights_strings", lambda t: _dense_built().set_weights([np.full((3, 2), "x"), np.zeros(2)]), TypeError, "weight 'dw/kernel' must be numeric, got dtype <U1"),
    ("set_weights_none", lambda t: _dense_built().set_weights(None), TypeError, "set_weights expects a list of arrays, got NoneType"),
    # ---- load_model
    ("load_missing", lambda t: mg.load_model(os.path.join(t, "nope.npz")), FileNotFoundError, "no such file"),
    ("load_directory", lambda t: mg.load_model(t), ValueError, "is not a readable minigrad model file"),
    ("load_path_type", lambda t: mg.load_model(None), TypeError, "load_model: `filepath` must be a str or os.PathLike, got NoneType"),
    ("load_truncated", _truncated, ValueError, "is not a readable minigrad model file"),
    ("load_corrupted", _corrupted, ValueError, "is not a readable minigrad model file"),
    ("load_garbage", _garbage, ValueError, "is not a readable minigrad model file"),
    ("load_empty", _empty_file, ValueError, "is not a readable minigrad model file"),
    ("load_foreign_npz", _foreign_npz, ValueError, "is not a readable minigrad model file"),
    ("load_foreign_zip", _zip_not_npz, ValueError, "is not a readable minigrad model file"),
    ("load_foreign_format", _foreign_format, ValueError, "format 'keras.Model'"),
    ("load_unknown_class", _unknown_class, ValueError, "unknown class or function 'Conv3D'"),
    ("load_bad_config", _bad_layer_config, ValueError, "`filters` must be a positive int, got -4"),
    ("load_weights_shape", _weights_tampered, ValueError, "has shape (3, 3, 1, 2), got an array of shape (5, 5, 1, 2)"),
    ("load_weights_missing", _weights_missing, ValueError, "expected 4 arrays, got 3"),
    ("save_unbuilt", lambda t: mg.Sequential([L.Dense(2)]).save(os.path.join(t, "x.npz")), ValueError, "save: model"),
    # ---- ops
    ("op_conv_channels", lambda t: mg.ops.conv2d(np.zeros((1, 5, 5, 2), "f4"), np.zeros((3, 3, 3, 4), "f4")), ValueError, "the input has 2 channels but the kernel expects 3"),
    ("op_conv_dtype", lambda t: mg.ops.conv2d(np.zeros((1, 5, 5, 2), "f4"), np.zeros((3, 3, 2, 4), "f8")), TypeError, "must share one dtype"),
    ("op_pool_rank", lambda t: mg.ops.max_pool2d(np.zeros((5, 5, 2), "f4"), 2), ValueError, "expected a 4-D input"),
    ("op_dense_kernel", lambda t: mg.ops.dense(np.zeros((2, 3), "f4"), np.zeros((4, 5), "f4")), ValueError, "expected a kernel of shape (3, units)"),
    ("op_xent_labels", lambda t: mg.ops.softmax_cross_entropy(np.zeros((2, 3), "f4"), np.array([0, 5]), sparse=True), ValueError, "labels must be in [0, 3)"),
    ("op_dropout_rate", lambda t: mg.ops.dropout(np.zeros(3, "f4"), 1.0), ValueError, "`rate` must be in [0, 1)"),
    ("op_dropout_seed_huge", lambda t: mg.ops.dropout(np.zeros(3, "f4"), 0.5, seed=2**64), ValueError, "`seed` must be None or an int in [0, 2**64), got 18446744073709551616"),
    ("op_dropout_seed_negative", lambda t: mg.ops.dropout(np.zeros(3, "f4"), 0.5, seed=-1), ValueError, "`seed` must be None or an int in [0, 2**64)"),
    ("op_conv_stride_huge", lambda t: mg.ops.conv2d(np.zeros((1, 5, 5, 1), "f4"), np.zeros((3, 3, 1, 1), "f4"), stride=2**64), ValueError, "conv2d: `strides` must be <= 2147483647"),
    ("op_pool_size_huge", lambda t: mg.ops.max_pool2d(np.zeros((1, 5, 5, 1), "f4"), 2**64), ValueError, "max_pooling2d: `pool_size` must be <= 2147483647"),
    ("conv_strides_huge", lambda t: L.Conv2D(2, 3, strides=(1, 2**64)), ValueError, "`strides` must be <= 2147483647, got (1, 18446744073709551616)"),
    ("pool_size_huge", lambda t: L.MaxPooling2D(2**64), ValueError, "`pool_size` must be <= 2147483647"),
    ("conv1d_strides_huge", lambda t: L.Conv1D(2, 3, strides=2**64, name="c1h"), ValueError, "Conv1D 'c1h': `strides` must be <= 2147483647, got 18446744073709551616"),
    ("conv1d_kernel_huge", lambda t: L.Conv1D(2, (2**64,)), ValueError, "`kernel_size` must be <= 2147483647"),
    ("zero_padding_huge", lambda t: L.ZeroPadding2D(2**64, name="zp"), ValueError, "ZeroPadding2D 'zp': `padding` must hold ints <= 2147483647"),
    ("repeat_vector_huge", lambda t: L.RepeatVector(2**64), ValueError, "`n` must be <= 2147483647, got 18446744073709551616"),
    ("embedding_huge", lambda t: L.Embedding(2**64, 2, name="emb_h"), MemoryError, "layer 'emb_h' weight 'embeddings': a weight of shape (18446744073709551616, 2) (float32) needs 147,573,952,589,676,412,928 bytes"),
    ("rmsprop_rho_one", lambda t: mg.optimizers.RMSprop(rho=1.0), ValueError, "RMSprop: `rho` must be a finite number in [0.0, 1.0), got 1.0"),
    ("op_relu_float16", lambda t: mg.ops.relu(mg.Tensor(np.ones(3, "f2"), dtype="float16")), TypeError, "`dtype` must be float32 or float64, got float16"),
    ("op_conv_float16", lambda t: mg.ops.conv2d(mg.Tensor(np.ones((1, 4, 4, 1)), dtype="float16"), np.ones((3, 3, 1, 1), "f4")), TypeError, "`dtype` must be float32 or float64, got float16"),
    ("op_softmax_axis", lambda t: mg.ops.softmax(np.zeros((2, 3), "f4"), axis=5), ValueError, "softmax: axis 5 is out of range for a tensor of rank 2"),
    ("tensor_log_softmax_axis", lambda t: mg.Tensor(np.zeros((2, 3), "f4")).log_softmax(axis=-3), ValueError, "log_softmax: axis -3 is out of range for a tensor of rank 2"),
    ("op_softmax_0d", lambda t: mg.ops.softmax(mg.Tensor(1.0)), ValueError, "softmax: expected a tensor of rank >= 1, got a 0-d tensor"),
    ("op_elu_alpha", lambda t: mg.ops.activations.elu(np.zeros(2, "f4"), alpha="x"), ValueError, "elu: `alpha` must be a finite number, got 'x'"),
    ("gradcheck_float32", lambda t: mg.testing.gradcheck(lambda a: a * a, (mg.Tensor(np.ones(2, "f4"), requires_grad=True),)), TypeError, "finite differences need float64"),
    ("random_seed_str", lambda t: mg.random.seed("42"), TypeError, "minigrad.random.seed: expected a non-negative int, got '42'"),
    ("random_set_state", lambda t: mg.random.set_state({"state": 1}), ValueError, "expected a PCG64 state from get_state()"),
    ("checkpoint_path_type", lambda t: mg.callbacks.ModelCheckpoint(None), TypeError, "ModelCheckpoint: `filepath` must be a str or os.PathLike, got NoneType"),
    ("checkpoint_bad_format", lambda t: _fit(callbacks=[mg.callbacks.ModelCheckpoint(os.path.join(t, "{val_los}.npz"))]), ValueError, "ModelCheckpoint: cannot format filepath"),
    # ---- callbacks
    ("checkpoint_mode", lambda t: mg.callbacks.ModelCheckpoint(os.path.join(t, "c.npz"), mode="up"), ValueError, "`mode` must be 'auto', 'min' or 'max', got 'up'"),
    ("earlystop_patience", lambda t: mg.callbacks.EarlyStopping(patience=-1), ValueError, "`patience` must be an int >= 0, got -1"),
    ("earlystop_start_from_epoch", lambda t: mg.callbacks.EarlyStopping(start_from_epoch=-1), ValueError, "`start_from_epoch` must be an int >= 0, got -1"),
    ("earlystop_baseline_nan", lambda t: mg.callbacks.EarlyStopping(baseline=float("nan")), ValueError, "`baseline` must be a finite number, got nan"),
    ("checkpoint_under_a_file", _checkpoint_under_a_file, NotADirectoryError, "plain.txt' is a file"),
    ("checkpoint_path_is_a_folder", lambda t: _fit(callbacks=[mg.callbacks.ModelCheckpoint(t)]), IsADirectoryError, "is an existing folder"),
    # ---- tensors and autograd (PyTorch's errors where it has one)
    ("tensor_none", lambda t: mg.Tensor(None), TypeError, "Tensor: data must be numbers, a (nested) list of numbers or a numeric array, got None"),
    ("tensor_complex", lambda t: mg.Tensor(np.ones(2, np.complex64)), TypeError, "complex data (complex64) is not supported"),
    ("tensor_float16", lambda t: mg.Tensor(np.ones(2, np.float16)), TypeError, "float16 data is not supported"),
    ("tensor_object", lambda t: mg.Tensor(np.array([None, 1.0])), TypeError, "numeric array, got object"),
    ("tensor_ragged", lambda t: mg.Tensor([[1.0, 2.0], [3.0]]), ValueError, "must be a rectangular (nested) list"),
    ("tensor_dtype_int", lambda t: mg.Tensor([1.0], dtype="int64"), TypeError, "`dtype` must be float32 or float64, got int64"),
    ("tensor_plus_none", lambda t: mg.Tensor([1.0]) + None, TypeError, "unsupported operand type(s) for +: 'Tensor' and 'NoneType'"),
    ("tensor_reshape_float", lambda t: mg.Tensor(np.ones(6)).reshape(2.7, 3), TypeError, "reshape: dims must be ints, got 2.7"),
    ("backward_gradient_shape", lambda t: (_leaf([1.0, 2.0, 3.0]) * 2).backward(np.ones(1)), RuntimeError, "Mismatch in shape: `gradient` has a shape of (1,)"),
    ("backward_second_time", _second_backward, RuntimeError, "Specify retain_graph=True"),
    ("custom_backward_list", lambda t: _ListBackward.apply(_leaf([1.0])).sum().backward(), TypeError, "_ListBackward.backward must return arrays (or Tensors), got list"),
    ("gradcheck_eps_zero", lambda t: mg.testing.gradcheck(lambda a: a * a, (_leaf([1.0]),), eps=0), ValueError, "`eps` must be a finite number > 0, got 0"),
    ("gradcheck_atol_nan", lambda t: mg.testing.gradcheck(lambda a: a * a, (_leaf([1.0]),), atol=float("nan")), ValueError, "`atol` must be a finite number >= 0, got nan"),
    ("gradcheck_input_nan", lambda t: mg.testing.gradcheck(lambda a: a * a, (_leaf([1.0, np.nan]),)), ValueError, "input 0 holds NaN or infinite values"),
    # ---- the functional losses check targets as fit does
    ("loss_sparse_fractional", lambda t: mg.losses.sparse_categorical_crossentropy(np.array([0.5, 1.0]), np.full((2, 3), 0.3, "f4")), TypeError, "holding fractional values"),
    ("loss_sparse_nan", lambda t: mg.losses.sparse_categorical_crossentropy(np.array([np.nan, 1.0]), np.full((2, 3), 0.3, "f4")), ValueError, "targets contain NaN or infinite values"),
    ("loss_categorical_negative", lambda t: mg.losses.categorical_crossentropy(np.array([[-1.0, 2.0]]), np.full((1, 2), 0.5, "f4")), ValueError, "targets must be probabilities in [0, 1], got values in [-1.0, 2.0]"),
    ("loss_mse_shape", lambda t: mg.losses.mse(np.zeros((2, 4)), np.zeros((2, 3), "f4")), ValueError, "expected targets of shape (samples, 3), got shape (2, 4)"),
    # ---- optimizers
    ("adam_lr_inf", lambda t: mg.optimizers.Adam(learning_rate=float("inf")), ValueError, "Adam: `learning_rate` must be a finite number > 0.0, got inf"),
    ("adam_beta_1_one", lambda t: mg.optimizers.Adam(beta_1=1.0), ValueError, "Adam: `beta_1` must be a finite number in [0.0, 1.0), got 1.0"),
    ("adam_beta_2_one", lambda t: mg.optimizers.Adam(beta_2=1), ValueError, "Adam: `beta_2` must be a finite number in [0.0, 1.0), got 1"),
    ("adam_epsilon_inf", lambda t: mg.optimizers.Adam(epsilon=float("inf")), ValueError, "Adam: `epsilon` must be a finite number > 0.0, got inf"),
    ("optimizer_reused_same_shapes", _reused_optimizer, ValueError, "Adam: unknown weight 0"),
    ("optimizer_reused_other_shapes", lambda t: _reused_optimizer(t, filters=5), ValueError, "Adam: slot 'm' of weight 0 has shape (3, 3, 1, 2)"),
    # ---- datasets
    ("mnist_corrupted_gzip", lambda t: _mnist_folder(t, _flip_deflate_bytes), ValueError, "train-images-idx3-ubyte.gz' could not be read (a truncated or corrupted file?)"),
    ("mnist_huge_dims", lambda t: _mnist_folder(t, _huge_dims), ValueError, "header says shape (65536, 65536, 65536, 65536)"),
    # ---- normalisation, pooling, convolution and shape layers (issue 14): at build time
    ("bn_axis_out_of_range", lambda t: L.BatchNormalization(axis=4, name="bn")(np.zeros((1, 3, 3, 2), "f4")), ValueError, "BatchNormalization 'bn': `axis` must be a non-batch axis of the input, in [-4, 4) and not the batch axis 0; got axis=4 for an input of rank 4"),
    ("bn_axis_batch", lambda t: L.BatchNormalization(axis=-3, name="bn0")(np.zeros((1, 4, 2), "f4")), ValueError, "got axis=-3 for an input of rank 3"),
    ("bn_momentum", lambda t: L.BatchNormalization(momentum=1.5, name="bnm"), ValueError, "BatchNormalization 'bnm': `momentum` must be a number in [0.0, 1.0], got 1.5"),
    ("bn_epsilon", lambda t: L.BatchNormalization(epsilon=0), ValueError, "`epsilon` must be a number > 0.0, got 0"),
    ("bn_renorm", lambda t: L.BatchNormalization(renorm=True), ValueError, "`renorm` is not supported by minigrad; got True"),
    ("ln_axis_out_of_range", lambda t: L.LayerNormalization(axis=3, name="ln")(np.zeros((1, 4, 2), "f4")), ValueError, "LayerNormalization 'ln': `axis` must be a non-batch axis of the input, in [-3, 3)"),
    ("ln_axis_str", lambda t: L.LayerNormalization(axis="last"), TypeError, "`axis` must be an int or a list/tuple of ints, got 'last'"),
    ("avgpool_too_big", lambda t: L.AveragePooling2D(5, name="ap")(np.zeros((1, 3, 3, 1), "f4")), ValueError, "AveragePooling2D 'ap': pool_size (5, 5) is larger than the 'valid' input (3, 3)"),
    ("maxpool1d_too_big", lambda t: L.MaxPooling1D(4, name="mp1")(np.zeros((1, 3, 2), "f4")), ValueError, "MaxPooling1D 'mp1': pool_size (4, 1) is larger than the 'valid' input (3, 1)"),
    ("global_pool_rank", lambda t: L.GlobalAveragePooling2D()(np.zeros((1, 3, 2), "f4")), ValueError, "expected ndim=4, found ndim=3"),
    ("conv1d_too_big", lambda t: L.Conv1D(2, 5, name="c1")(np.zeros((1, 3, 1), "f4")), ValueError, "Conv1D 'c1': kernel_size 5 with dilation_rate 1 is larger than the 'valid' input of 3 steps"),
    ("conv1d_padding", lambda t: L.Conv1D(2, 3, padding="full"), ValueError, "`padding` must be 'valid' or 'same', got 'full'"),
    ("depthwise_too_big", lambda t: L.DepthwiseConv2D(4, name="dw")(np.zeros((1, 3, 3, 2), "f4")), ValueError, "DepthwiseConv2D 'dw': kernel_size (4, 4)"),
    ("depthwise_multiplier", lambda t: L.DepthwiseConv2D(3, depth_multiplier=0), ValueError, "`depth_multiplier` must be a positive int, got 0"),
    ("conv_groups_filters", lambda t: L.Conv2D(5, 3, groups=2, name="cg"), ValueError, "Conv2D 'cg': `filters` must be divisible by `groups`, got filters=5, groups=2"),
    ("conv_groups_channels", lambda t: L.Conv2D(4, 3, groups=2, name="cg2")(np.zeros((1, 5, 5, 3), "f4")), ValueError, "Conv2D 'cg2': the input's channels must be divisible by `groups`, got groups=2 and input shape (1, 5, 5, 3)"),
    ("conv_transpose_output_padding", lambda t: L.Conv2DTranspose(2, 3, strides=2, output_padding=2, name="ct"), ValueError, "Conv2DTranspose 'ct': `output_padding` must be strictly less than `strides` in each dimension, got output_padding=(2, 2), strides=(2, 2)"),
    ("conv_transpose_strides_dilation", lambda t: L.Conv2DTranspose(2, 3, strides=2, dilation_rate=2), ValueError, "`strides` > 1 together with `dilation_rate` > 1 is not supported"),
    ("reshape_not_dividing", lambda t: L.Reshape((5, -1), name="rs")(np.zeros((2, 12), "f4")), ValueError, "Reshape 'rs': cannot reshape an input of shape (12,) (12 values per sample) to `target_shape` (5, -1): expected a shape of 12 values, a multiple of 5 with the -1"),
    ("reshape_size", lambda t: L.Reshape((3, 3))(np.zeros((2, 8), "f4")), ValueError, "to `target_shape` (3, 3): expected a shape of 8 values"),
    ("reshape_two_unknown", lambda t: L.Reshape((-1, -1)), ValueError, "`target_shape` must hold positive ints and at most one -1"),
    ("permute_not_a_permutation", lambda t: L.Permute((1, 1)), ValueError, "`dims` must be a permutation of 1..2, got (1, 1)"),
    ("permute_rank", lambda t: L.Permute((2, 1))(np.zeros((2, 3, 4, 5), "f4")), ValueError, "`dims` (2, 1) permutes 2 axes, but the input has 3"),
    ("cropping_too_much", lambda t: L.Cropping2D(((2, 2), (0, 0)), name="cr")(np.zeros((1, 4, 4, 1), "f4")), ValueError, "Cropping2D 'cr': `cropping` ((2, 2), (0, 0)) removes 4 of the input's 4 height pixels; expected fewer"),
    ("padding_negative", lambda t: L.ZeroPadding2D(-1), ValueError, "`padding` must be a tuple of ints >= 0"),
    ("upsampling_interpolation", lambda t: L.UpSampling2D(interpolation="bicubic"), ValueError, "`interpolation` must be 'nearest' or 'bilinear', got 'bicubic'"),
    ("embedding_id_range", lambda t: L.Embedding(5, 2, name="emb")(np.array([[1, 5]])), ValueError, "Embedding 'emb': ids must be in [0, 5) (input_dim), got values in [1, 5]"),
    ("embedding_fraction", lambda t: L.Embedding(5, 2)(np.array([0.5])), ValueError, "expected integer ids, got non-integer values"),
    ("leaky_relu_negative", lambda t: L.LeakyReLU(-0.1), ValueError, "`negative_slope` must be a number >= 0.0, got -0.1"),
    ("softmax_mask_shape", lambda t: L.Softmax()(np.zeros((2, 3), "f4"), mask=np.ones((2, 4), bool)), ValueError, "Softmax: the mask of shape (2, 4) must broadcast to the inputs of shape (2, 3)"),
    ("normalization_mean_only", lambda t: L.Normalization(mean=1.0), ValueError, "give both `mean` and `variance` or neither"),
    ("gaussian_noise_stddev", lambda t: L.GaussianNoise(2.0), ValueError, "`stddev` must be a float in [0, 1], got 2.0"),
    ("spatial_dropout_rate", lambda t: L.SpatialDropout2D(1.0), ValueError, "`rate` must be a float in [0, 1), got 1.0"),
    ("mha_mask_shape", lambda t: L.MultiHeadAttention(2, 3, name="att")(np.zeros((2, 4, 5), "f4"), np.zeros((2, 6, 5), "f4"), attention_mask=np.ones((2, 4, 5), bool)), ValueError, "MultiHeadAttention 'att': `attention_mask` of shape (2, 4, 5) does not broadcast to the attention scores (2, 2, 4, 6); expected (batch, query positions, key positions) = (2, 4, 6)"),
    ("mha_weights_mismatch", lambda t: _mha_wrong_weights(), ValueError, "weight 'mha0/query/kernel' has shape (5, 2, 3), got an array of shape (5, 4, 3)"),
    ("mha_key_dim", lambda t: L.MultiHeadAttention(2, 0), ValueError, "`key_dim` must be a positive int, got 0"),
    ("mha_value_key_shapes", lambda t: L.MultiHeadAttention(2, 3)(np.zeros((2, 4, 5), "f4"), np.zeros((2, 6, 5), "f4"), key=np.zeros((2, 5, 5), "f4")), ValueError, "`value` and `key` must match in every axis but the last"),
]


def _dense_built():
    layer = L.Dense(2, name="dw")
    layer.ensure_built((None, 3))
    return layer


@contextlib.contextmanager
def kernel_tripwire():
    """Every Numba CPU kernel raises while active: bad input must be rejected first.

    Set on the dispatcher class, so it catches every kernel however it is reached
    (a module attribute, a table of generated kernels, a name bound at import).
    """
    own = "__call__" in vars(CPUDispatcher)
    saved = vars(CPUDispatcher).get("__call__")

    def trip(self, *a, **k):
        raise AssertionError(f"Numba kernel {self.py_func.__name__} ran on bad input")
    CPUDispatcher.__call__ = trip
    try:
        yield
    finally:
        if own:
            CPUDispatcher.__call__ = saved
        else:
            del CPUDispatcher.__call__


def run_case(case, tmp):
    """-> (ok, detail): the case raised the expected type with the fragment."""
    cid, fn, exc, fragment = case
    try:
        with kernel_tripwire():
            fn(tmp)
    except BaseException as e:  # noqa: BLE001 - we classify it
        got = f"{type(e).__name__}: {e}"
        if type(e) is not exc and not (isinstance(e, exc) and exc is not Exception):
            return False, f"expected {exc.__name__}, got {got}"
        if fragment not in str(e):
            return False, f"message lacks {fragment!r}: {got}"
        return True, got
    return False, "no exception raised"


def test_the_tripwire_catches_every_kernel():
    """Kernels reached through a module attribute, a table of generated kernels, or a
    fused op all trip it (the activations' were once bound at import and missed)."""
    x = mg.Tensor(np.ones((1, 4, 4, 1), "f4"))
    for call, kernel in [(lambda: x.relu(), "relu_forward"),
                         (lambda: mg.ops.softmax(x), "softmax_forward"),
                         (lambda: mg.ops.dropout(x, 0.5, seed=1), "dropout_apply"),
                         (lambda: mg.ops.max_pool2d(x), "maxpool_forward")]:
        with kernel_tripwire(), pytest.raises(AssertionError, match=f"kernel {kernel} ran"):
            call()
    assert x.relu().numpy().sum() == 16  # and it is gone afterwards


def test_table_is_large_enough():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES), "duplicate case ids"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path):
    ok, detail = run_case(case, str(tmp_path))
    assert ok, f"{case[0]}: {detail}"


def test_whole_table_in_a_subprocess(tmp_path):
    """The whole table once in a fresh interpreter: a crash or a hang fails."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), str(tmp_path)],
                              capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("the bad-input table hung in a subprocess (timeout 120 s)")
    assert proc.returncode == 0, (f"subprocess crashed or failed, rc={proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(results) == {c[0] for c in CASES}
    bad = {k: v for k, v in results.items() if not v[0]}
    assert not bad, bad


if __name__ == "__main__":  # the subprocess: run every case, print one JSON line
    import faulthandler
    import tempfile
    import warnings
    faulthandler.enable()
    warnings.simplefilter("ignore")
    base = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    out = {}
    for i, case in enumerate(CASES):
        tmp = os.path.join(base, f"case{i}")
        os.makedirs(tmp, exist_ok=True)
        out[case[0]] = run_case(case, tmp)
    print(json.dumps(out))

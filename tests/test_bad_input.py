"""Bad input raises ValueError/TypeError naming the layer or argument, before any kernel runs."""
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers


def tiny_model():
    model = mg.Sequential([
        layers.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def tiny_data(n=8):
    r = np.random.default_rng(0)
    return r.uniform(0, 1, (n, 6, 6, 1)).astype(np.float32), r.integers(0, 10, n)


def named(layer):
    return re.escape(layer.name)


# ------------------------------------------------------------------ ranks
@pytest.mark.parametrize("shape", [(2, 8, 8), (8, 8), (1, 2, 8, 8, 1)])
def test_conv2d_wrong_rank(shape):
    conv = layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match=named(conv)) as e:
        conv(np.zeros(shape, np.float32))
    assert "ndim" in str(e.value) or "4-D" in str(e.value)


@pytest.mark.parametrize("shape", [(2, 8, 8), (1, 2, 8, 8, 1)])
def test_maxpool_wrong_rank(shape):
    pool = layers.MaxPooling2D()
    with pytest.raises(ValueError, match=named(pool)):
        pool(np.zeros(shape, np.float32))


def test_dense_wrong_rank():
    dense = layers.Dense(3)
    with pytest.raises(ValueError, match=named(dense)):
        dense(np.zeros((5,), np.float32))


def test_ops_wrong_rank():
    with pytest.raises(ValueError, match="conv2d"):
        mg.ops.conv2d(np.zeros((8, 8, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32))
    with pytest.raises(ValueError, match="conv2d"):
        mg.ops.conv2d(np.zeros((1, 8, 8, 1), np.float32), np.zeros((3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="max_pool"):
        mg.ops.max_pool2d(np.zeros((8, 8, 1), np.float32), 2)
    with pytest.raises(ValueError, match="dense"):
        mg.ops.dense(np.zeros((2, 3, 4), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="dense"):
        mg.ops.dense(np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32))


def test_model_input_shape_mismatch():
    model = tiny_model()
    with pytest.raises(ValueError, match="expects inputs of shape"):
        model.predict(np.zeros((2, 7, 7, 1), np.float32), verbose=0)


# -------------------------------------------------------------- channels
def test_built_conv2d_wrong_channel_count():
    conv = layers.Conv2D(2, 3)
    conv(np.zeros((1, 6, 6, 3), np.float32))
    with pytest.raises(ValueError, match=named(conv)) as e:
        conv(np.zeros((1, 6, 6, 2), np.float32))
    assert "3" in str(e.value) and "2" in str(e.value)


def test_built_dense_wrong_features():
    dense = layers.Dense(2)
    dense(np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match=named(dense)):
        dense(np.zeros((1, 5), np.float32))


def test_ops_conv2d_channel_mismatch():
    with pytest.raises(ValueError, match="channels"):
        mg.ops.conv2d(np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 2, 4), np.float32))
    with pytest.raises(ValueError, match="bias"):
        mg.ops.conv2d(np.zeros((1, 5, 5, 2), np.float32), np.zeros((3, 3, 2, 4), np.float32),
                      np.zeros(3, np.float32))


def test_ops_conv2d_dtype_mismatch():
    with pytest.raises(TypeError, match="dtype"):
        mg.ops.conv2d(np.zeros((1, 5, 5, 2), np.float32), np.zeros((3, 3, 2, 4), np.float64))


# ------------------------------------------------------------------ names
@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(2, 3, padding="full"),
    lambda: layers.Conv2D(2, 3, padding=1),
    lambda: layers.MaxPooling2D(2, padding="causal"),
], ids=["conv-full", "conv-int", "pool-causal"])
def test_unknown_padding(make):
    with pytest.raises(ValueError, match="padding"):
        make()


def test_unknown_padding_in_ops():
    with pytest.raises(ValueError, match="padding"):
        mg.ops.conv2d(np.zeros((1, 5, 5, 1), np.float32), np.zeros((3, 3, 1, 1), np.float32),
                      padding="SAMEISH")
    with pytest.raises(ValueError, match="padding"):
        mg.ops.max_pool2d(np.zeros((1, 5, 5, 1), np.float32), 2, padding="full")


def test_padding_is_case_insensitive_like_keras():
    assert layers.Conv2D(1, 3, padding="SAME")(np.zeros((1, 5, 5, 1), "f4")).shape == (1, 5, 5, 1)


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(3, activation="swishy"),
    lambda: layers.Conv2D(2, 3, activation="gelu2"),
    lambda: layers.Activation("nope"),
])
def test_unknown_activation(make):
    with pytest.raises(ValueError, match="activation"):
        make()


def test_unknown_activation_message_names_layer_and_value():
    with pytest.raises(ValueError, match="swishy") as e:
        layers.Dense(3, activation="swishy", name="head")
    assert "head" in str(e.value)


def test_unknown_optimizer_loss_metric():
    model = tiny_model()
    with pytest.raises(ValueError, match="optimizer"):
        model.compile(optimizer="adamz", loss="mse")
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="adam", loss="hinge_of_doom")
    with pytest.raises(ValueError, match="metric"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["f1_score_xyz"])
    with pytest.raises(TypeError, match="metrics"):
        model.compile(optimizer="adam", loss="mse", metrics="accuracy")


def test_unknown_initializer():
    with pytest.raises(ValueError, match="initializer"):
        layers.Dense(3, kernel_initializer="glorot_sideways")


def test_fit_before_compile():
    model = mg.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="compile"):
        model.fit(np.zeros((4, 3), np.float32), np.zeros(4), verbose=0)


# ----------------------------------------------------- kernel larger than input
def test_kernel_larger_than_valid_input_at_build():
    with pytest.raises(ValueError, match="conv_big"):
        mg.Sequential([layers.Conv2D(2, 5, input_shape=(3, 3, 1), name="conv_big")])
    conv = layers.Conv2D(2, (2, 4))
    with pytest.raises(ValueError, match=named(conv)):
        conv(np.zeros((1, 6, 3, 1), np.float32))
    dilated = layers.Conv2D(2, 3, dilation_rate=3)          # effective kernel 7
    with pytest.raises(ValueError, match=named(dilated)):
        dilated(np.zeros((1, 6, 6, 1), np.float32))
    assert layers.Conv2D(2, 5, padding="same")(np.zeros((1, 3, 3, 1), "f4")).shape == (1, 3, 3, 2)


def test_kernel_larger_than_valid_input_in_ops():
    with pytest.raises(ValueError, match="conv2d.*larger"):
        mg.ops.conv2d(np.zeros((1, 3, 3, 1), np.float32), np.zeros((5, 5, 1, 1), np.float32))
    with pytest.raises(ValueError, match="larger"):
        mg.ops.max_pool2d(np.zeros((1, 3, 3, 1), np.float32), 4)


def test_pool_larger_than_input_at_build():
    with pytest.raises(ValueError, match="max_pooling2d_big"):
        mg.Sequential([layers.Input((3, 3, 1)), layers.MaxPooling2D(4, name="max_pooling2d_big")])


# -------------------------------------------------------------------- labels
def test_labels_not_matching_data_length():
    model = tiny_model()
    x, y = tiny_data(8)
    with pytest.raises(ValueError, match="samples"):
        model.fit(x, y[:7], verbose=0)
    with pytest.raises(ValueError, match="samples"):
        model.evaluate(x, y[:5], verbose=0)


@pytest.mark.parametrize("bad", [10, -1, 255])
def test_labels_out_of_range(bad):
    model = tiny_model()
    x, y = tiny_data(8)
    y = y.copy()
    y[3] = bad
    with pytest.raises(ValueError, match=r"labels.*\[0, 10\)"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="labels"):
        model.evaluate(x, y, verbose=0)


def test_labels_out_of_range_in_op():
    with pytest.raises(ValueError, match="labels"):
        mg.ops.softmax_cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 3]), sparse=True)


def test_float_labels_that_are_not_integers():
    model = tiny_model()
    x, y = tiny_data(8)
    with pytest.raises(TypeError, match="integer"):
        model.fit(x, y + 0.5, verbose=0)


def test_one_hot_targets_for_sparse_loss():
    model = tiny_model()
    x, y = tiny_data(8)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        model.fit(x, np.eye(10)[y], verbose=0)


# --------------------------------------------------- non-positive arguments
@pytest.mark.parametrize("make,arg", [
    (lambda: layers.Conv2D(0, 3), "filters"),
    (lambda: layers.Conv2D(-4, 3), "filters"),
    (lambda: layers.Conv2D(2, 0), "kernel_size"),
    (lambda: layers.Conv2D(2, (3, -1)), "kernel_size"),
    (lambda: layers.Conv2D(2, 3, strides=0), "strides"),
    (lambda: layers.Conv2D(2, 3, strides=(1, -2)), "strides"),
    (lambda: layers.Conv2D(2, 3, dilation_rate=0), "dilation_rate"),
    (lambda: layers.Dense(0), "units"),
    (lambda: layers.Dense(-3), "units"),
    (lambda: layers.MaxPooling2D(0), "pool_size"),
    (lambda: layers.MaxPooling2D(2, strides=0), "strides"),
])
def test_non_positive_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


@pytest.mark.parametrize("make,arg", [
    (lambda: layers.Conv2D(2.5, 3), "filters"),
    (lambda: layers.Conv2D(2, (3, 3, 3)), "kernel_size"),
    (lambda: layers.Conv2D(2, "3"), "kernel_size"),
    (lambda: layers.Dense("10"), "units"),
])
def test_wrong_type_arguments(make, arg):
    with pytest.raises((ValueError, TypeError), match=arg):
        make()


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rate_outside_range(rate):
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(rate)
    with pytest.raises(ValueError, match="rate"):
        mg.ops.dropout(np.ones((2, 2), np.float32), rate)


def test_dropout_rate_zero_is_allowed():
    x = np.ones((3, 3), np.float32)
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True).numpy(), x)


@pytest.mark.parametrize("make,arg", [
    (lambda: mg.optimizers.Adam(learning_rate=0), "learning_rate"),
    (lambda: mg.optimizers.Adam(learning_rate=-1e-3), "learning_rate"),
    (lambda: mg.optimizers.Adam(beta_1=1.5), "beta_1"),
    (lambda: mg.optimizers.SGD(momentum=-0.1), "momentum"),
])
def test_bad_optimizer_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


# ------------------------------------------------------------- fit arguments
@pytest.mark.parametrize("batch_size", [0, -5])
def test_batch_size_not_positive(batch_size):
    model = tiny_model()
    x, y = tiny_data(8)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=batch_size, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=batch_size, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.evaluate(x, y, batch_size=batch_size, verbose=0)


def test_bad_epochs_and_validation_split():
    model = tiny_model()
    x, y = tiny_data(8)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(x, y, epochs=0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.0, verbose=0)


def test_string_array_as_x():
    model = tiny_model()
    x = np.full((2, 6, 6, 1), "a")
    with pytest.raises(TypeError, match="x"):
        model.predict(x, verbose=0)
    with pytest.raises(TypeError, match="x"):
        model.fit(x, np.zeros(2, int), verbose=0)
    with pytest.raises(TypeError, match=named(model.layers[0])):
        model.layers[0](x)


def test_nan_in_x():
    model = tiny_model()
    x, y = tiny_data(4)
    x[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(x, y, verbose=0)


def test_empty_x():
    model = tiny_model()
    with pytest.raises(ValueError, match="empty"):
        model.predict(np.zeros((0, 6, 6, 1), np.float32), verbose=0)


# ------------------------------------------------ accepted, converted inputs
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint8, np.int32])
def test_other_numeric_dtypes_are_accepted(dtype):
    mg.random.seed(0)
    model = tiny_model()
    x, y = tiny_data(8)
    xd = (x * 255).astype(dtype) if np.issubdtype(dtype, np.integer) else x.astype(dtype)
    history = model.fit(xd, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    out = model.predict(xd, verbose=0)
    assert out.dtype == np.float32 and out.shape == (8, 10)
    np.testing.assert_allclose(out, model.predict(xd.astype(np.float32), verbose=0), rtol=1e-6)
    loss, acc = model.evaluate(xd, y.astype(np.int32), verbose=0)
    assert np.isfinite(loss) and 0 <= acc <= 1


def test_lists_and_layer_calls_with_float64():
    dense = layers.Dense(2)
    out = dense(np.ones((3, 4), np.float64))
    assert out.dtype == np.float32
    assert dense([[1, 2, 3, 4]]).shape == (1, 2)


def test_labels_as_column_and_float_ints_are_accepted():
    mg.random.seed(0)
    model = tiny_model()
    x, y = tiny_data(8)
    h1 = model.fit(x, y[:, None], batch_size=8, epochs=1, verbose=0).history
    h2 = model.fit(x, y.astype(np.float32), batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(h1["loss"][0]) and np.isfinite(h2["loss"][0])

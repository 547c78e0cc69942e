"""The Keras-compatibility points of the API contract: shapes, parameter counts, summary, names,
weights, padding arithmetic, initializers, fit/evaluate/predict and seeding."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers


def small_model(dropout=0.25):
    return mg.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(dropout),
        layers.Dense(10, activation="softmax"),
    ])


def small_data(n=96, seed=0):
    """Noise images with a bright 2x2 patch whose position is the class (learnable)."""
    r = np.random.default_rng(seed)
    y = r.integers(0, 10, n)
    x = r.uniform(0, 0.3, (n, 8, 8, 1)).astype(np.float32)
    for i, c in enumerate(y):
        row, col = c // 4 * 2 + 1, c % 4 * 2
        x[i, row:row + 2, col:col + 2, 0] = 1.0
    return x, y


def compiled(model, optimizer="adam"):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# ------------------------------------------------------------- the convnet
MNIST_SHAPES = [(None, 26, 26, 32), (None, 13, 13, 32), (None, 11, 11, 64), (None, 5, 5, 64),
                (None, 1600), (None, 1600), (None, 10)]
MNIST_PARAMS = [320, 0, 18496, 0, 0, 0, 16010]


def test_mnist_convnet_params_and_shapes(mnist_convnet):
    model = mnist_convnet()
    assert model.built                              # input_shape: built at once
    assert model.count_params() == 34826
    assert [l.count_params() for l in model.layers] == MNIST_PARAMS
    assert [tuple(l.compute_output_shape((None, 28, 28, 1) if i == 0 else MNIST_SHAPES[i - 1]))
            for i, l in enumerate(model.layers)] == MNIST_SHAPES
    assert model.output_shape == (None, 10)
    out = model.predict(np.zeros((3, 28, 28, 1), np.float32), verbose=0)
    assert out.shape == (3, 10)


def test_summary_table(fresh_names, mnist_convnet):
    model = mnist_convnet()
    printed = []
    model.summary(print_fn=printed.append)
    assert len(printed) == 1  # Keras 3 hands print_fn the whole table at once
    text = printed[0]
    lines = text.splitlines()
    for name, shape, params in [
            ("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
            ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
            ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"),
            ("max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
            ("flatten (Flatten)", "(None, 1600)", "0"),
            ("dropout (Dropout)", "(None, 1600)", "0"),
            ("dense (Dense)", "(None, 10)", "16,010")]:
        row = [l for l in lines if name in l]
        assert len(row) == 1, f"no single summary row for {name!r}:\n{text}"
        cells = [c.strip() for c in row[0].split("│")[1:-1]]  # Keras 3's boxed row
        assert cells == [name, shape, params], row[0]
    assert "Total params: 34,826" in text
    assert "Trainable params: 34,826" in text
    assert "Non-trainable params: 0" in text
    assert "Output Shape" in text and "Param #" in text
    assert 'Model: "sequential"' in text


def test_summary_prints_to_stdout_by_default(capsys, mnist_convnet):
    mnist_convnet().summary()
    assert "Total params: 34,826" in capsys.readouterr().out


def test_layer_names_auto_increment(fresh_names):
    a, b, c = layers.Conv2D(2, 3), layers.Conv2D(2, 3), layers.Conv2D(2, 3)
    assert (a.name, b.name, c.name) == ("conv2d", "conv2d_1", "conv2d_2")
    assert layers.MaxPooling2D().name == "max_pooling2d"
    assert layers.Dense(3).name == "dense"
    assert layers.Dense(3).name == "dense_1"
    assert layers.Flatten().name == "flatten"
    assert layers.Dropout(0.1).name == "dropout"
    assert layers.Conv2D(2, 3, name="mine").name == "mine"
    assert mg.Sequential().name == "sequential"
    assert mg.Sequential().name == "sequential_1"


def test_duplicate_layer_names_rejected():
    with pytest.raises(ValueError, match="unique"):
        mg.Sequential([layers.Dense(2, name="d"), layers.Dense(2, name="d")])


# ------------------------------------------------------------- building
def test_sequential_lazy_build():
    model = mg.Sequential([layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(3)])
    assert not model.built
    assert not model.layers[0].built
    with pytest.raises(ValueError, match="built"):
        model.summary()
    with pytest.raises(ValueError, match="built"):
        model.count_params()
    out = model.predict(np.zeros((2, 6, 6, 2), np.float32), verbose=0)
    assert out.shape == (2, 3)
    assert model.built
    assert model.layers[0].kernel.shape == (3, 3, 2, 4)
    assert model.count_params() == (3 * 3 * 2 * 4 + 4) + (4 * 4 * 4 * 3 + 3)
    assert model.output_shape == (None, 3)


def test_sequential_with_input_first():
    model = mg.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    assert model.built
    assert len(model.layers) == 7          # the Input is not a layer
    assert model.count_params() == 34826
    assert model.output_shape == (None, 10)
    assert model.layers[0].kernel.shape == (3, 3, 1, 32)


def test_sequential_add_builds_incrementally():
    model = mg.Sequential()
    model.add(layers.Input((10,)))
    model.add(layers.Dense(4))
    assert model.built and model.output_shape == (None, 4)
    model.add(layers.Dense(2))
    assert model.output_shape == (None, 2)
    assert model.count_params() == 10 * 4 + 4 + 4 * 2 + 2


def test_layer_callable_on_array_as_in_design():
    y = layers.Conv2D(16, 3, strides=2, padding="same")(np.zeros((1, 10, 10, 3), "f4"))
    assert isinstance(y, mg.Tensor)
    assert y.shape == (1, 5, 5, 16)
    assert y.dtype == np.float32


# ------------------------------------------------------- padding arithmetic
@pytest.mark.parametrize("n", [7, 8, 9, 10, 28])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_same_padding_output_size(n, s, k):
    conv = layers.Conv2D(1, k, strides=s, padding="same")
    assert conv(np.zeros((1, n, n + 1, 1), np.float32)).shape == \
        (1, math.ceil(n / s), math.ceil((n + 1) / s), 1)
    pool = layers.MaxPooling2D(k, strides=s, padding="same")
    assert pool(np.zeros((1, n, n + 1, 2), np.float32)).shape == \
        (1, math.ceil(n / s), math.ceil((n + 1) / s), 2)


@pytest.mark.parametrize("n", [7, 8, 9, 10, 28])
@pytest.mark.parametrize("k,s,d", [(1, 1, 1), (3, 1, 1), (3, 2, 1), (2, 3, 1), (4, 3, 1),
                                   (3, 1, 2), (3, 2, 2), (2, 1, 3)])
def test_valid_padding_output_size(n, k, s, d):
    expected = (n - d * (k - 1) - 1) // s + 1
    conv = layers.Conv2D(1, k, strides=s, dilation_rate=d, padding="valid")
    assert conv(np.zeros((1, n, n, 1), np.float32)).shape == (1, expected, expected, 1)
    assert conv.compute_output_shape((None, n, n, 1)) == (None, expected, expected, 1)
    if d == 1:
        pool = layers.MaxPooling2D(k, strides=s)
        assert pool(np.zeros((1, n, n, 1), np.float32)).shape == (1, expected, expected, 1)


def test_pool_strides_default_to_pool_size():
    assert layers.MaxPooling2D(3)(np.zeros((1, 9, 9, 1), np.float32)).shape == (1, 3, 3, 1)
    assert layers.MaxPooling2D()(np.zeros((1, 9, 9, 1), np.float32)).shape == (1, 4, 4, 1)


# ------------------------------------------------------------ exact values
X3 = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)   # [[1,2,3],[4,5,6],[7,8,9]]
K2 = np.array([[1, 2], [3, 4]], np.float32).reshape(2, 2, 1, 1)


def test_constant_kernel_valid_convolution_by_hand():
    conv = layers.Conv2D(1, (2, 2), use_bias=False,
                         kernel_initializer=mg.initializers.Constant(K2))
    y = conv(X3).numpy()[0, :, :, 0]
    # cross-correlation, no flip: y[i,j] = 1*x[i,j] + 2*x[i,j+1] + 3*x[i+1,j] + 4*x[i+1,j+1]
    np.testing.assert_array_equal(y, [[37, 47], [67, 77]])
    assert conv.get_weights()[0].shape == (2, 2, 1, 1)
    assert len(conv.get_weights()) == 1


def test_constant_kernel_same_padding_puts_extra_pixel_bottom_right():
    conv = layers.Conv2D(1, (2, 2), padding="same", use_bias=False,
                         kernel_initializer=mg.initializers.Constant(K2))
    y = conv(X3).numpy()[0, :, :, 0]
    # TF: total padding 1 per axis, all of it after (bottom/right)
    # (zeros after the last row/column): y[0,2] = 3 + 3*6, y[1,2] = 6 + 3*9,
    # y[2,0] = 7 + 2*8, y[2,1] = 8 + 2*9, y[2,2] = 9
    np.testing.assert_array_equal(y, [[37, 47, 21],
                                      [67, 77, 33],
                                      [23, 26, 9]])


def test_constant_kernel_with_stride_dilation_and_bias():
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    conv = layers.Conv2D(1, 2, dilation_rate=2, kernel_initializer=mg.initializers.Constant(1.0),
                         bias_initializer=mg.initializers.Constant(0.5))
    y = conv(x).numpy()[0, :, :, 0]
    # taps at (i, j), (i, j+2), (i+2, j), (i+2, j+2)
    expected = np.array([[x[0, i, j, 0] + x[0, i, j + 2, 0] + x[0, i + 2, j, 0] +
                          x[0, i + 2, j + 2, 0] for j in range(3)] for i in range(3)]) + 0.5
    np.testing.assert_array_equal(y, expected)
    pool = layers.MaxPooling2D(2, strides=3)(x).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(pool, [[6, 9], [21, 24]])


def test_constant_dense():
    d = layers.Dense(2, kernel_initializer=mg.initializers.Constant([[1, 2], [3, 4], [5, 6]]),
                     bias_initializer="ones")
    y = d(np.array([[1, 1, 1], [1, 0, -1]], np.float32)).numpy()
    np.testing.assert_array_equal(y, [[10, 13], [-3, -3]])


# --------------------------------------------------------------- weights
def test_get_set_weights_order_and_shapes(mnist_convnet):
    model = mnist_convnet()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (1600, 10), (10,)]
    conv = model.layers[0]
    assert conv.kernel.shape == (3, 3, 1, 32) and conv.bias.shape == (32,)
    assert isinstance(conv.kernel, mg.Tensor)
    assert [w.shape for w in conv.trainable_weights] == [(3, 3, 1, 32), (32,)]
    np.testing.assert_array_equal(conv.get_weights()[1], np.zeros(32))  # bias: zeros

    new = [np.full(s, i, np.float32) for i, s in enumerate(shapes)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model.layers[2].kernel.numpy(), new[2])
    np.testing.assert_array_equal(model.layers[-1].bias.numpy(), new[5])


def test_get_weights_returns_copies():
    d = layers.Dense(2)
    d(np.zeros((1, 3), np.float32))
    w = d.get_weights()
    w[0][...] = 42
    assert not (d.get_weights()[0] == 42).any()


def test_set_weights_shape_mismatch(mnist_convnet):
    model = mnist_convnet()
    before = model.get_weights()
    bad = [np.zeros(w.shape, np.float32) for w in before]
    bad[-1] = np.zeros(11, np.float32)
    with pytest.raises(ValueError, match="shape"):
        model.set_weights(bad)
    with pytest.raises(ValueError):
        model.set_weights(before[:-1])
    layer0 = model.layers[0].get_weights()
    with pytest.raises(ValueError, match="shape"):
        model.layers[0].set_weights([np.zeros((3, 3, 1, 31)), np.zeros(32)])
    with pytest.raises(ValueError, match="expected 2 arrays"):
        model.layers[0].set_weights([np.zeros((3, 3, 1, 32)), np.zeros(32), np.zeros(1)])
    for got, want in zip(model.layers[0].get_weights(), layer0):
        np.testing.assert_array_equal(got, want)


def test_model_set_weights_mismatch_changes_nothing(mnist_convnet):
    """As Keras: every shape is checked before any weight is assigned, so a
    mismatch in the last layer leaves the first layers untouched too."""
    model = mnist_convnet()
    before = model.get_weights()
    bad = [np.ones(w.shape, np.float32) for w in before]
    bad[-1] = np.ones(11, np.float32)
    with pytest.raises(ValueError, match="shape"):
        model.set_weights(bad)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_use_bias_false_has_no_bias():
    conv = layers.Conv2D(3, 2, use_bias=False)
    conv(np.zeros((1, 4, 4, 2), np.float32))
    assert conv.bias is None
    assert [w.shape for w in conv.get_weights()] == [(2, 2, 2, 3)]
    assert conv.count_params() == 24


# ----------------------------------------------------------- initializers
def test_glorot_uniform_limits():
    mg.random.seed(0)
    w = mg.initializers.get("glorot_uniform")((3, 3, 32, 64), "float32")
    limit = math.sqrt(6 / (3 * 3 * 32 + 3 * 3 * 64))  # fans include the receptive field
    assert w.dtype == np.float32
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.98 * limit
    assert abs(w.mean()) < 0.02 * limit
    np.testing.assert_allclose(w.std(), limit / math.sqrt(3), rtol=0.03)   # uniform's std
    d = mg.initializers.GlorotUniform()((1600, 10))
    lim = math.sqrt(6 / 1610)
    assert np.abs(d).max() <= lim and np.abs(d).max() > 0.98 * lim


def test_default_layer_initializers_are_glorot_and_zeros():
    conv = layers.Conv2D(64, 3)
    conv(np.zeros((1, 5, 5, 32), np.float32))
    k = conv.kernel.numpy()
    limit = math.sqrt(6 / (9 * 32 + 9 * 64))
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.95 * limit
    np.testing.assert_array_equal(conv.bias.numpy(), 0)


def test_he_normal_std():
    mg.random.seed(1)
    w = mg.initializers.get("he_normal")((3, 3, 64, 128))
    std = math.sqrt(2 / (3 * 3 * 64))
    np.testing.assert_allclose(w.std(), std, rtol=0.03)
    assert abs(w.mean()) < 0.03 * std
    # Keras truncates at two (pre-correction) standard deviations
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)
    assert np.abs(w).max() > 1.5 * std


def test_initializers_by_name_in_layers():
    d = layers.Dense(5, kernel_initializer="ones", bias_initializer="ones")
    d(np.zeros((1, 4), np.float32))
    np.testing.assert_array_equal(d.kernel.numpy(), np.ones((4, 5)))
    np.testing.assert_array_equal(d.bias.numpy(), np.ones(5))


# ------------------------------------------------------ fit / evaluate / predict
def test_history_keys_with_validation_split():
    mg.random.seed(0)
    x, y = small_data()
    model = compiled(small_model())
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in h.values())
    assert all(np.isfinite(v).all() for v in h.values())
    assert all(0 <= a <= 1 for a in h["accuracy"] + h["val_accuracy"])
    assert history.epoch == [0, 1]
    # Keras validates on the last 25%, unshuffled: val_loss is evaluate() on that part
    val = model.evaluate(x[72:], y[72:], verbose=0)
    np.testing.assert_allclose(h["val_loss"][-1], val[0], rtol=1e-5)
    np.testing.assert_allclose(h["val_accuracy"][-1], val[1], rtol=1e-6)


def test_history_without_validation_has_no_val_keys():
    mg.random.seed(0)
    x, y = small_data(32)
    h = compiled(small_model()).fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert set(h) == {"loss", "accuracy"}


def test_fit_reduces_loss():
    mg.random.seed(0)
    x, y = small_data(64)
    model = compiled(small_model(dropout=0.0), mg.optimizers.Adam(0.01))
    h = model.fit(x, y, batch_size=16, epochs=12, verbose=0).history
    assert h["loss"][-1] < 0.4 * h["loss"][0]
    assert h["accuracy"][-1] > 0.8


def test_evaluate_returns_loss_and_accuracy():
    mg.random.seed(0)
    x, y = small_data(40)
    model = compiled(small_model())
    result = model.evaluate(x, y, batch_size=7, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    loss, acc = result
    probs = model.predict(x, verbose=0)
    expected_loss = -np.mean(np.log(np.clip(probs[np.arange(40), y], 1e-7, 1)))
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-4)
    np.testing.assert_allclose(acc, np.mean(probs.argmax(1) == y), rtol=1e-6)
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    # without metrics: a plain float
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_predict_is_numpy_probabilities():
    mg.random.seed(0)
    x, _ = small_data(50)
    model = small_model()
    out = model.predict(x, batch_size=16, verbose=0)
    assert type(out) is np.ndarray
    assert out.dtype == np.float32 and out.shape == (50, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
    assert (out >= 0).all()
    # batching does not change the answer, and predict never applies dropout
    np.testing.assert_allclose(model.predict(x, batch_size=50, verbose=0), out, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_array_equal(model.predict(x, batch_size=16, verbose=0), out)


def test_dropout_only_active_in_training():
    d = layers.Dropout(0.5)
    x = np.ones((20, 50), np.float32)
    np.testing.assert_array_equal(d(x).numpy(), x)
    np.testing.assert_array_equal(d(x, training=False).numpy(), x)
    y = d(x, training=True).numpy()
    assert 0.3 < (y == 0).mean() < 0.7
    np.testing.assert_allclose(y[y != 0], 2.0)


def test_seed_makes_two_fits_identical():
    x, y = small_data(64)

    def run():
        mg.random.seed(42)
        model = compiled(small_model(dropout=0.5))
        h = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0)
        return model.get_weights(), h.history

    (w1, h1), (w2, h2) = run(), run()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2
    mg.random.seed(43)
    model = compiled(small_model(dropout=0.5))
    model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0)
    assert not np.array_equal(model.get_weights()[0], w1[0])


def test_categorical_crossentropy_and_mse_fit():
    """Both losses train (the loss falls) and evaluate to their NumPy formulas on
    the model's own predictions."""
    mg.random.seed(0)
    x, y = small_data(32)
    onehot = np.eye(10)[y]
    model = small_model(dropout=0.0)
    model.compile(optimizer=mg.optimizers.SGD(0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, onehot, batch_size=8, epochs=4, verbose=0).history
    assert set(h) == {"loss", "accuracy"} and h["loss"][-1] < 0.95 * h["loss"][0]
    p = model.predict(x, verbose=0).astype(np.float64)
    want = np.mean(-(onehot * np.log(np.clip(p, 1e-7, 1 - 1e-7))).sum(-1))
    assert model.evaluate(x, onehot, verbose=0)[0] == pytest.approx(want, rel=1e-4)

    model.compile(optimizer=mg.optimizers.SGD(0.05, momentum=0.9, nesterov=True), loss="mse")
    h = model.fit(x, onehot, batch_size=8, epochs=4, verbose=0).history
    assert h["loss"][-1] < h["loss"][0]
    p = model.predict(x, verbose=0).astype(np.float64)
    assert model.evaluate(x, onehot, verbose=0) == pytest.approx(np.mean((p - onehot) ** 2),
                                                                 rel=1e-4)

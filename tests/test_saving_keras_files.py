"""Interchange with Keras 3: files written by real Keras (tests/fixtures/keras,
made by make_fixtures.py) load into minigrad and predict what Keras predicted;
and, where MINIGRAD_KERAS_PYTHON names a Python with Keras 3, Keras loads
minigrad-written .keras files and predicts what minigrad predicted."""
import os

import numpy as np
import pytest

import minigrad as mg
from keras_interop import (FIXTURES, OPTIMIZERS, build_custom_models, build_models,
                           deserialize_in_keras, inputs_for, make_custom_classes,
                           run_in_keras, step_in_keras, train_mnist_in_keras,
                           train_mnist_in_minigrad)

pytest.importorskip("h5py")


def fixture(name: str) -> tuple:
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    xs = [data[f"x{i}"] for i in range(len(data.files) - 1)]
    return (xs if len(xs) > 1 else xs[0]), data["y"]


@pytest.mark.parametrize("name", ["seq_conv", "functional_merge", "image_zoo", "sequence_zoo"])
def test_keras_written_models_predict_what_keras_predicted(name):
    model = mg.load_model(os.path.join(FIXTURES, f"{name}.keras"))
    x, y = fixture(name)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["custom_functional", "custom_subclassed"])
def test_keras_written_custom_layers_and_models_load_once_registered(name):
    path = os.path.join(FIXTURES, f"{name}.keras")
    make_custom_classes(mg)  # registered as Keras registered them: 'interop>Block', ...
    model = mg.load_model(path)
    x, y = fixture(name)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5, rtol=0)


def test_keras_compile_settings_and_optimizer_state_come_along():
    model = mg.load_model(os.path.join(FIXTURES, "seq_conv.keras"))
    assert isinstance(model.optimizer, mg.optimizers.Adam)
    assert model.optimizer.iterations == 4  # 2 epochs of 2 batches, in Keras
    assert model.optimizer.get_state()[1][0].any()  # Adam's moments, not fresh zeros
    x, _ = fixture("seq_conv")
    model.fit(x, np.zeros(len(x), int), epochs=1, verbose=0)  # and it trains on
    assert model.optimizer.iterations == 5


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_keras_optimizer_state_loads_for_every_optimizer(name, recwarn):
    model = mg.load_model(os.path.join(FIXTURES, f"optimizer_{name}.keras"))
    assert type(model.optimizer) is type(OPTIMIZERS[name](mg.optimizers))
    assert model.optimizer.iterations == 2
    assert not [w for w in recwarn if "optimizer state" in str(w.message)]
    step = np.load(os.path.join(FIXTURES, f"optimizer_{name}.npz"))
    model.train_on_batch(step["x"], step["y"])  # Keras's third step, from Keras's state
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, step[f"w{i}"], atol=1e-6, rtol=0)


def test_keras_written_weights_load_into_a_minigrad_model():
    model = build_models(mg)["dense_bn_dropout"]
    model.load_weights(os.path.join(FIXTURES, "dense_bn_dropout.weights.h5"))
    x, y = fixture("dense_bn_dropout")
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5, rtol=0)


KERAS_PYTHON = os.environ.get("MINIGRAD_KERAS_PYTHON")


@pytest.mark.skipif(not KERAS_PYTHON, reason="set MINIGRAD_KERAS_PYTHON to a Python with "
                                             "Keras 3 to check that Keras loads minigrad's files")
def test_keras_loads_minigrad_files_and_predicts_the_same(tmp_path):
    rng = np.random.default_rng(1)
    pairs = []
    for name, model in {**build_models(mg), **build_custom_models(mg)}.items():
        xs = inputs_for(name, rng)
        if name == "seq_conv":
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            model.fit(xs[0], rng.integers(0, 3, len(xs[0])), epochs=2, batch_size=8,
                      verbose=0)
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        y = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        np.savez(tmp_path / f"{name}.npz", y=y, **{f"x{i}": x for i, x in enumerate(xs)})
        pairs.append((path, str(tmp_path / f"{name}.npz")))
    result = run_in_keras(KERAS_PYTHON, pairs)
    for path, _ in pairs:
        assert result[path] < 1e-5, (path, result[path])
    assert result[str(tmp_path / "seq_conv.keras") + ":iterations"] == 4
    assert not [k for k in result if k.endswith(":warnings")], result


@pytest.mark.skipif(not KERAS_PYTHON, reason="set MINIGRAD_KERAS_PYTHON to a Python with "
                                             "Keras 3 to run MNIST through both libraries")
def test_mnist_both_ways(tmp_path):
    """The issue's "done when": a CNN trained in Keras on MNIST evaluates in minigrad
    to Keras's accuracy, and one trained in minigrad predicts the same probabilities
    in Keras (both to 1e-5), on a small sample."""
    (x_train, y_train), (x_test, y_test) = mg.datasets.mnist.load_data()
    x_train = (x_train[:2048, ..., None] / 255.0).astype("float32")
    x_test = (x_test[:512, ..., None] / 255.0).astype("float32")
    y_train, y_test = y_train[:2048], y_test[:512]
    data = tmp_path / "mnist.npz"
    np.savez(data, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)

    keras_file = str(tmp_path / "from_keras.keras")
    keras_accuracy = train_mnist_in_keras(KERAS_PYTHON, str(data), keras_file)["accuracy"]
    model = mg.load_model(keras_file)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert keras_accuracy > 0.5 and abs(accuracy - keras_accuracy) < 1e-5  # 0.1 is chance
    keras_probs = np.load(keras_file + ".npz")["probs"]
    np.testing.assert_allclose(model.predict(x_test, verbose=0), keras_probs, atol=1e-5, rtol=0)

    ours = train_mnist_in_minigrad(mg, x_train, y_train)
    path = str(tmp_path / "from_minigrad.keras")
    ours.save(path)
    np.savez(tmp_path / "ours.npz", x0=x_test, y=ours.predict(x_test, verbose=0))
    assert run_in_keras(KERAS_PYTHON, [(path, str(tmp_path / "ours.npz"))])[path] < 1e-5


@pytest.mark.skipif(not KERAS_PYTHON, reason="set MINIGRAD_KERAS_PYTHON to a Python with "
                                             "Keras 3 to check the objects' configs in Keras")
def test_keras_rebuilds_minigrad_optimizers_losses_metrics_and_initializers(tmp_path):
    import json
    O, M = mg.optimizers, mg.metrics
    objects = [O.SGD(momentum=0.9, nesterov=True), O.Adam(amsgrad=False), O.AdamW(0.01),
               O.RMSprop(rho=0.8), O.Adagrad(), O.Adadelta(), O.Adamax(), O.Nadam(),
               O.Adam(learning_rate=O.schedules.ExponentialDecay(0.1, 10, 0.9)),
               mg.losses.SparseCategoricalCrossentropy(from_logits=True),
               mg.losses.CategoricalCrossentropy(label_smoothing=0.1), mg.losses.Huber(),
               M.SparseCategoricalAccuracy(), M.AUC(), M.TopKCategoricalAccuracy(k=3),
               mg.initializers.HeNormal(seed=1), mg.initializers.Orthogonal(),
               mg.regularizers.L1L2(0.1, 0.2)]
    path = tmp_path / "objects.json"
    path.write_text(json.dumps([mg.saving.serialize_keras_object(o) for o in objects]))
    rebuilt = deserialize_in_keras(KERAS_PYTHON, str(path))
    for obj, (name, config) in zip(objects, rebuilt):
        assert name == type(obj).__name__
        ours = json.loads(json.dumps(obj.get_config(), default=str))
        shared = [k for k in ours if k in config]  # (Keras's SCCE config omits `axis`)
        assert len(shared) >= len(ours) - 1, (name, sorted(ours), sorted(config))
        for key in shared:  # every setting both write: Keras kept minigrad's value
            value = ours[key]
            if key != "learning_rate" or not isinstance(value, dict):
                assert config[key] == pytest.approx(value) if isinstance(value, float) \
                    else config[key] == value, (name, key, value, config[key])


@pytest.mark.skipif(not KERAS_PYTHON, reason="set MINIGRAD_KERAS_PYTHON to a Python with "
                                             "Keras 3 to resume minigrad's optimizers in Keras")
def test_keras_resumes_minigrad_optimizer_state(tmp_path):
    """Two steps in minigrad, saved; Keras's third step from that file lands where
    minigrad's third step does, for every optimizer."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    pairs = []
    for name, make in OPTIMIZERS.items():
        mg.random.seed(0)
        model = mg.Sequential([mg.Input((3,)), mg.layers.Dense(2)])
        model.compile(optimizer=make(mg.optimizers), loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        model.train_on_batch(x[:4], y[:4])
        np.savez(tmp_path / f"{name}.npz", x=x[:4], y=y[:4],
                 **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        pairs.append((path, str(tmp_path / f"{name}.npz")))
    result = step_in_keras(KERAS_PYTHON, pairs)
    assert not [k for k in result if k.endswith(":warnings")], result
    for path, _ in pairs:
        assert result[path] < 1e-6, (path, result[path])

"""Training options as Keras 3 has them: the callback sequence of fit/evaluate/predict
(keras-io "Writing your own callbacks"), running-mean batch logs, sample and class
weights against hand-computed weighted losses, add_loss and regularizers in the
training loss, several outputs with loss_weights, evaluate's forms, one-batch
methods, BackupAndRestore."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import callbacks, layers, losses, regularizers


def linear_model(units=1, lr=1e-30, **dense_kwargs):  # 1e-30: the weights stay
    model = mg.Sequential([layers.Input((3,), dtype="float64"),
                           layers.Dense(units, dtype="float64", **dense_kwargs)])
    model.compile(optimizer=mg.optimizers.SGD(lr), loss="mean_squared_error",
                  metrics=["mean_absolute_error"])
    return model


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float64")
    return x, x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.standard_normal((n, 1))


class Recorder(callbacks.Callback):
    """Every hook, with the log keys it got (the guide's CustomCallback, recorded)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _record(self, hook, logs, index=None):
        assert isinstance(logs, dict), f"{hook} got {type(logs).__name__} logs"
        self.calls.append((hook, index, sorted(logs)))


for _hook in callbacks.callback.HOOKS:
    def _method(self, *args, _hook=_hook):
        logs = args[-1] if args else None
        self._record(_hook, logs if logs is not None else {},
                     args[0] if len(args) == 2 else None)
    setattr(Recorder, _hook, _method)


def test_callback_sequence_of_fit_evaluate_predict_is_kerass(fresh_names):
    """The order and log keys the keras-io guide shows for fit with validation_split,
    evaluate and predict with callbacks=[...]."""
    x, y = data(40)
    model = linear_model()
    rec = Recorder()
    model.fit(x, y, batch_size=10, epochs=1, verbose=0, validation_split=0.5, callbacks=[rec])
    m = ["loss", "mean_absolute_error"]
    val = m + ["val_loss", "val_mean_absolute_error"]
    assert rec.calls == [
        ("on_train_begin", None, []), ("on_epoch_begin", 0, []),
        ("on_train_batch_begin", 0, []), ("on_train_batch_end", 0, m),
        ("on_train_batch_begin", 1, []), ("on_train_batch_end", 1, m),
        ("on_test_begin", None, []),
        ("on_test_batch_begin", 0, []), ("on_test_batch_end", 0, m),
        ("on_test_batch_begin", 1, []), ("on_test_batch_end", 1, m),
        ("on_test_end", None, m), ("on_epoch_end", 0, val), ("on_train_end", None, val)]
    rec.calls.clear()
    model.evaluate(x, y, batch_size=20, verbose=0, callbacks=[rec])
    assert [c[0] for c in rec.calls] == ["on_test_begin", "on_test_batch_begin",
                                         "on_test_batch_end", "on_test_batch_begin",
                                         "on_test_batch_end", "on_test_end"]
    rec.calls.clear()
    model.predict(x, batch_size=20, verbose=0, callbacks=[rec])
    assert rec.calls == [("on_predict_begin", None, []), ("on_predict_batch_begin", 0, []),
                         ("on_predict_batch_end", 0, ["outputs"]),
                         ("on_predict_batch_begin", 1, []),
                         ("on_predict_batch_end", 1, ["outputs"]), ("on_predict_end", None, [])]


def test_batch_logs_are_running_means(fresh_names):
    x, y = data(30)
    model = linear_model()  # weights stay: each batch's loss is known beforehand
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[cb])
    per = ((model.predict(x, verbose=0) - y) ** 2).ravel()
    sizes = [8, 8, 8, 6]
    sums = np.cumsum([per[i * 8:i * 8 + s].sum() for i, s in enumerate(sizes)])
    np.testing.assert_allclose(seen, sums / np.cumsum(sizes), rtol=1e-12)


# ------------------------------------------------------------ weights
def test_sample_weight_gives_keras_weighted_loss_and_gradient(fresh_names):
    x, y = data(12)
    w = np.linspace(0.0, 2.0, 12)
    model = linear_model(use_bias=False)
    history = model.fit(x, y, batch_size=12, epochs=1, verbose=0, sample_weight=w)
    err = (model.predict(x, verbose=0) - y).ravel()
    # Keras: sum_over_batch_size divides the weighted sum by the batch size, not by sum(w)
    assert history.history["loss"][0] == pytest.approx((w * err ** 2).mean(), rel=1e-12)
    # the metrics are unweighted (compile's `metrics`), as in Keras 3
    assert history.history["mean_absolute_error"][0] == pytest.approx(np.abs(err).mean())
    model = linear_model(lr=0.1, use_bias=False)
    k0 = model.get_weights()[0]
    model.fit(x, y, batch_size=12, epochs=1, verbose=0, sample_weight=w, shuffle=False)
    grad = 2.0 / 12 * x.T @ (w * (x @ k0 - y).ravel())[:, None]
    np.testing.assert_allclose(model.get_weights()[0], k0 - 0.1 * grad, rtol=1e-10)


def test_class_weight_weighs_each_sample_by_its_class(fresh_names):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 4))
    labels = rng.integers(0, 3, 20)
    model = mg.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=mg.optimizers.SGD(1e-30), loss="sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy"], metrics=["accuracy"])
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    history = model.fit(x, labels, batch_size=20, verbose=0, class_weight=cw)
    p = model.predict(x, verbose=0)
    per = -np.log(np.clip(p[np.arange(20), labels], 1e-7, 1 - 1e-7))
    sw = np.array([cw[c] for c in labels])
    assert history.history["loss"][0] == pytest.approx((per * sw).mean(), rel=1e-6)
    hits = (p.argmax(1) == labels).astype(float)
    assert history.history["accuracy"][0] == pytest.approx(hits.mean())
    assert history.history["weighted_accuracy"][0] == pytest.approx((hits * sw).sum() / sw.sum())
    with pytest.raises(ValueError, match=r"no weight for class\(es\) \[2\]"):
        model.fit(x, labels, verbose=0, class_weight={0: 1.0, 1: 2.0})


def test_sample_weight_length_mismatch_is_a_clear_error(fresh_names):
    x, y = data(10)
    with pytest.raises(ValueError, match=r"fit: `sample_weight` must hold one weight per "
                                         r"sample: 10 samples, got shape \(9,\)"):
        linear_model().fit(x, y, sample_weight=np.ones(9), verbose=0)


# ------------------------------------------------------- losses of layers
class ActivityRegularizationLayer(layers.Layer):
    def call(self, inputs):
        self.add_loss(mg.ops.sum(inputs) * 0.1)
        return inputs


def test_regularizers_and_add_loss_join_the_training_loss(fresh_names):
    x, y = data(16)
    inputs = mg.Input((3,), dtype="float64")
    hidden = layers.Dense(4, kernel_regularizer=regularizers.L2(0.1), dtype="float64",
                          activity_regularizer=regularizers.L1(0.01), name="hidden")(inputs)
    hidden = ActivityRegularizationLayer(dtype="float64")(hidden)
    model = mg.Model(inputs, layers.Dense(1, bias_regularizer="l2", name="out",
                                          dtype="float64")(hidden))
    model.compile(optimizer=mg.optimizers.SGD(1e-30), loss="mse")
    history = model.fit(x, y, batch_size=16, verbose=0)
    k, b = model.get_layer("hidden").get_weights()
    h = x @ k + b
    out_k, out_b = model.get_layer("out").get_weights()
    mse = ((h @ out_k + out_b - y) ** 2).mean()
    want = mse + 0.1 * (k ** 2).sum() + 0.01 * np.abs(h).sum() / 16 + 0.1 * h.sum() + \
        0.01 * (out_b ** 2).sum()
    assert history.history["loss"][0] == pytest.approx(want, rel=1e-9)
    assert len(model.losses) == 4  # activity, add_loss, then the two weight penalties
    # a model whose only loss comes from add_loss trains without a compiled loss
    inputs = mg.Input((3,))
    out = ActivityRegularizationLayer()(layers.Dense(2)(inputs))
    free = mg.Model(inputs, out)
    free.compile(optimizer="sgd")
    free.fit(x, verbose=0)
    with pytest.raises(ValueError, match="No loss to compute"):
        lonely = mg.Sequential([layers.Input((3,)), layers.Dense(1)])
        lonely.compile(optimizer="sgd")
        lonely.fit(x, verbose=0)


class LogisticEndpoint(layers.Layer):
    """The training guide's endpoint: a layer of two symbolic inputs adding its loss."""

    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = losses.BinaryCrossentropy(from_logits=True)

    def call(self, targets, logits, sample_weights=None):
        self.add_loss(self.loss_fn(targets, logits, sample_weights))
        return mg.ops.softmax(logits)


def test_layer_of_two_symbolic_inputs_trains_on_a_dict_of_inputs(fresh_names, rng):
    inputs, targets = mg.Input((3,), name="inputs"), mg.Input((10,), name="targets")
    logits = layers.Dense(10, name="logits")(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    assert predictions.shape == (None, 10)
    model = mg.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer=mg.optimizers.SGD(1e-30))  # no loss: add_loss's only
    x, t = rng.random((6, 3)).astype("float32"), rng.random((6, 10)).astype("float32")
    history = model.fit({"inputs": x, "targets": t}, batch_size=6, verbose=0)
    k, b = model.get_layer("logits").get_weights()
    z = x @ k + b
    want = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    assert history.history["loss"][0] == pytest.approx(want, rel=1e-5)


def test_add_weight_keras_signature_and_variables(fresh_names):
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     regularizer="l2", name="scale")
            self.old = self.add_weight("offset", (input_shape[-1],), "zeros")

        def call(self, x):
            return x * self.w + self.old

    layer = Scale()
    layer(np.ones((2, 3)))
    assert isinstance(layer.w, mg.Variable) and layer.w.name.endswith("/scale")
    layer.w.assign_add(np.ones(3))
    np.testing.assert_array_equal(layer.w.numpy(), 2.0)
    assert float(layer.losses[0]) == pytest.approx(0.01 * 3 * 4)
    assert layer.old.numpy().tolist() == [0.0, 0.0, 0.0]


# --------------------------------------------------------------- outputs
def test_several_outputs_take_a_loss_each_with_weights_and_metrics(fresh_names):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((24, 4))
    inputs = mg.Input((4,), name="features")
    shared = layers.Dense(6, activation="relu")(inputs)
    score = layers.Dense(1, name="score")(shared)
    cls = layers.Dense(3, activation="softmax", name="cls")(shared)
    model = mg.Model(inputs, [score, cls])
    model.compile(optimizer=mg.optimizers.SGD(1e-30),
                  loss={"score": "mse", "cls": losses.CategoricalCrossentropy()},
                  loss_weights={"score": 2.0, "cls": 1.0},
                  metrics={"score": ["mae"], "cls": [mg.metrics.CategoricalAccuracy()]})
    y_score, y_cls = rng.standard_normal((24, 1)), np.eye(3)[rng.integers(0, 3, 24)]
    history = model.fit(x, {"score": y_score, "cls": y_cls}, batch_size=24, verbose=0)
    p_score, p_cls = model.predict(x, verbose=0)
    mse = ((p_score - y_score) ** 2).mean()
    cce = -(y_cls * np.log(np.clip(p_cls, 1e-7, 1 - 1e-7))).sum(1).mean()
    h = {k: v[0] for k, v in history.history.items()}
    assert list(h) == ["loss", "score_loss", "cls_loss", "score_mae",
                       "cls_categorical_accuracy"]
    assert h["loss"] == pytest.approx(2 * mse + cce, rel=1e-6)
    assert h["score_loss"] == pytest.approx(mse, rel=1e-6)
    assert model.metrics_names == list(h)
    # a list in output order, and None for an output that does not train
    model.compile(optimizer=mg.optimizers.SGD(1e-30), loss=[None, "categorical_crossentropy"])
    h = {k: v[0] for k, v in model.fit(x, [y_score, y_cls], batch_size=24, verbose=0)
         .history.items()}
    assert set(h) == {"loss", "cls_loss"} and h["cls_loss"] == pytest.approx(cce, rel=1e-6)
    assert h["loss"] == pytest.approx(cce, rel=1e-6)


def test_loss_function_returning_a_wrong_shape_fails_at_the_first_step(fresh_names):
    x, y = data(8)
    model = mg.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=lambda t, p: ((t - p) * (t - p)).sum(axis=0))
    with pytest.raises(ValueError, match=r"returned values of shape \(1,\) for predictions of "
                                         r"shape \(8, 1\)"):
        model.fit(x, y, batch_size=8, verbose=0)


# ----------------------------------------------------- evaluate, batches
def test_evaluate_forms_and_the_one_line_of_verbose_2(capsys, fresh_names):
    x, y = data(40)
    model = linear_model()
    loss, mae = model.evaluate(x, y, batch_size=16, verbose=0)
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert logs == {"loss": loss, "mean_absolute_error": mae}
    assert model.metrics_names == ["loss", "mean_absolute_error"]
    model.evaluate(x, y, batch_size=16, verbose=2)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("3/3 - ") and "/step - loss: " in out[0] and \
        " - mean_absolute_error: " in out[0]
    model.fit(x, y, epochs=2, verbose=2, batch_size=40)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[1].startswith("1/1 - ") and lines[2] == "Epoch 2/2"


def test_one_batch_methods(fresh_names):
    x, y = data(8)
    model = linear_model(lr=0.1)
    before = model.get_weights()
    loss, mae = model.train_on_batch(x, y)
    assert not np.allclose(before[0], model.get_weights()[0])
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "mean_absolute_error"}
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0))


def test_backup_and_restore_resumes_as_an_unbroken_run(tmp_path, fresh_names):
    x, y = data(32)

    def fresh():
        mg.random.seed(7)
        return linear_model(lr=0.05)

    unbroken = fresh()
    unbroken.fit(x, y, batch_size=8, epochs=4, verbose=0)

    class Crash(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("power cut")

    model = fresh()
    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[backup, Crash()])
    resumed = fresh()
    seen = []
    history = resumed.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[
        backup, callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == [2, 3]  # the two epochs after the last backup (end of epoch 2)
    assert len(history.history["loss"]) == 2
    for a, b in zip(unbroken.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup").exists()  # deleted at the end, as Keras

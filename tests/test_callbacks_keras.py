"""Keras 3's callbacks (keras/src/callbacks/*.py): ReduceLROnPlateau, LearningRateScheduler,
CSVLogger, LambdaCallback, TerminateOnNaN, ModelCheckpoint's save_freq and
save_weights_only, CallbackList, ProgbarLogger's verbose=2 line, TensorBoard."""
import csv
import os
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import callbacks, layers


def _model(lr=0.1):
    model = mg.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=mg.optimizers.SGD(learning_rate=lr), loss="mse")
    return model


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


def test_reduce_lr_on_plateau_follows_keras(fresh_names):
    model = _model(0.1)
    # min_delta so large that no epoch after the first counts as an improvement
    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9,
                                     cooldown=1, min_lr=0.02)
    history = model.fit(*_data(), epochs=6, verbose=0, callbacks=[cb])
    # Keras logs the rate the epoch ran with, then reduces. Epoch 0 sets best; 1: wait 1
    # -> .05, cooldown 1; 2: the cooldown ends in the same epoch (wait reset, then 1)
    # -> .025; 3: -> .0125, clamped to min_lr .02; 4, 5: stays at min_lr
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.02,
                                                              0.02])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    with pytest.raises(ValueError, match="does not support a factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_sets_the_rate_each_epoch(fresh_names):
    model = _model(0.1)
    seen = []
    spy = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    history = model.fit(*_data(), epochs=3, verbose=0, callbacks=[sched, spy])
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    old_api = callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))
    model.fit(*_data(), epochs=2, verbose=0, callbacks=[old_api])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: "fast")
    with pytest.raises(ValueError, match="should be a float. Got: 'fast'"):
        model.fit(*_data(), epochs=1, verbose=0, callbacks=[bad])


def test_csv_logger_writes_keras_columns(tmp_path, fresh_names):
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(*_data(), epochs=2, verbose=0, validation_split=0.25,
              callbacks=[callbacks.CSVLogger(path)])
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == ["epoch", "loss", "val_loss"]
    assert [r["epoch"] for r in rows] == ["0", "1"]
    model.fit(*_data(), epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 3 and rows[2]["val_loss"] == "NA"  # one header; no validation: NA


def test_lambda_callback_and_terminate_on_nan(fresh_names):
    calls = []
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: calls.append("begin"),
                                  on_train_batch_end=lambda batch, logs: calls.append(batch),
                                  on_train_end=lambda logs: calls.append("end"))
    _model().fit(*_data(16), batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    assert calls == ["begin", 0, 1, "end"]
    with pytest.raises(TypeError, match="unknown hook"):
        callbacks.LambdaCallback(on_epoch_finish=print)
    x, y = _data(16)
    y[0] = 1e30  # the loss overflows to inf
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        _model().fit(x, y, batch_size=16, epochs=2, verbose=0,
                     callbacks=[callbacks.TerminateOnNaN(raise_error=True)])


def test_on_batch_hooks_are_keras_aliases():
    """Keras's on_train_batch_begin/_end call on_batch_begin/_end (the guide's
    LossHistory overrides on_batch_end)."""
    class LossHistory(callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

    cb = LossHistory()
    cb.on_train_begin({})
    cb.on_train_batch_end(0, {"loss": 1.5})
    assert cb.per_batch_losses == [1.5]


def test_callback_list_dispatches_every_hook_with_a_dict():
    seen = []

    class Spy(callbacks.Callback):
        pass

    from minigrad.callbacks.callback import HOOKS
    spy = Spy()
    for hook in HOOKS:
        setattr(spy, hook, (lambda h: lambda *a: seen.append((h, a[-1])))(hook))
    cbs = callbacks.CallbackList([spy], add_history=True, add_progbar=True, verbose=0,
                                 epochs=1, steps=1)
    assert [type(c).__name__ for c in cbs.callbacks] == ["Spy", "History", "ProgbarLogger"]
    for hook in HOOKS:
        args = (0,) if "batch" in hook or "epoch" in hook else ()
        getattr(cbs, hook)(*args)
    assert [h for h, _ in seen] == list(HOOKS)
    assert all(logs == {} for _, logs in seen)
    with pytest.raises(TypeError, match="callbacks must be minigrad.callbacks.Callback"):
        callbacks.CallbackList(["not a callback"])


def test_progbar_verbose_2_prints_keras_line(capsys):
    bar = callbacks.ProgbarLogger()
    bar.set_params({"verbose": 2, "epochs": 2, "steps": 8})
    bar.on_test_begin({})
    for step in range(8):
        bar.on_test_batch_end(step, {"loss": 0.5})
    bar.on_test_end({"loss": 0.1353, "accuracy": 0.9615})
    out = capsys.readouterr().out
    assert out.startswith("8/8 - 0s - ") and "/step - loss: 0.1353 - accuracy: 0.9615" in out
    bar.on_train_begin({})
    bar.on_epoch_begin(0, {})
    bar.on_epoch_end(0, {"loss": 2.0})
    assert capsys.readouterr().out.startswith("Epoch 1/2\n0/8 - 0s - ")


def test_model_checkpoint_save_freq_counts_batches(tmp_path, fresh_names):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch}-{batch}.npz"), save_freq=3)
    _model().fit(*_data(32), batch_size=8, epochs=2, verbose=0, callbacks=[cb])
    # 8 batches over 2 epochs: saved after the 3rd and 6th batch seen
    assert sorted(os.listdir(tmp_path)) == ["ckpt-1-3.npz", "ckpt-2-2.npz"]
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        callbacks.ModelCheckpoint("x.npz", save_freq="batch")


def test_model_checkpoint_save_weights_only(tmp_path, fresh_names):
    # .npz weights need no extra; .weights.h5 (h5py) is tested in test_saving_keras_format.py
    model = _model()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w.npz"), save_weights_only=True)
    model.fit(*_data(), epochs=1, verbose=0, callbacks=[cb])
    fresh = _model()
    fresh.load_weights(tmp_path / "w.npz")
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), model.get_weights()))


def test_tensorboard_without_the_package_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="needs the `tensorboard` package"):
        callbacks.TensorBoard("logs")


def test_tensorboard_writes_scalars(tmp_path, fresh_names):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    model = _model()
    model.fit(*_data(), batch_size=8, epochs=2, verbose=0, validation_split=0.25,
              callbacks=[callbacks.TensorBoard(str(tmp_path), update_freq=2)])
    train = EventAccumulator(str(tmp_path / "train"))
    train.Reload()
    assert {"epoch_loss", "batch_loss"} <= set(train.Tags()["scalars"])
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1]
    val = EventAccumulator(str(tmp_path / "validation"))
    val.Reload()
    assert "epoch_loss" in val.Tags()["scalars"]
    with pytest.raises(NotImplementedError, match="histogram_freq"):
        callbacks.TensorBoard(str(tmp_path), histogram_freq=1)

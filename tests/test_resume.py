"""Interruption without loss: checkpoints, SIGKILL mid-epoch and mid-save, resuming.

The training runs are subprocesses of this file (`python tests/test_resume.py
MODE DIR`), so they can be killed with SIGKILL like a real crash.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import minigrad as mg  # noqa: E402
from minigrad import layers as L  # noqa: E402
from minigrad.callbacks import Callback, EarlyStopping, ModelCheckpoint  # noqa: E402

EPOCHS, KILL_EPOCH = 4, 2          # killed during epoch index 2, after checkpoint 2
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


# ---------------------------------------------------------- the training job
def data():
    rng = np.random.default_rng(123)
    x = rng.standard_normal((96, 8, 8, 1)).astype("f4")
    y = (x[:, :4].sum(axis=(1, 2, 3)) > 0).astype(int) + (x[:, :, :4].mean() > 0)
    return x, y


def new_model():
    model = mg.Sequential([
        L.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        L.Dropout(0.25),                       # masks from minigrad.random
        L.MaxPooling2D(2), L.Flatten(),
        L.Dropout(0.2, seed=7),                # masks from a private generator
        L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class StallMidEpoch(Callback):
    """In epoch `epoch`, after a few batches: announce via a file, then wait to be killed."""

    def __init__(self, epoch, ready):
        self.epoch, self.ready, self.current = epoch, ready, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 2:
            with open(self.ready, "w") as f:
                f.write("ready")
            time.sleep(120)


def job(mode, d):
    x, y = data()
    ckpt = os.path.join(d, "ckpt.npz")
    callbacks = [ModelCheckpoint(ckpt)]
    if mode == "resume":
        model = mg.load_model(ckpt)
        with np.load(ckpt) as f:
            epoch = json.loads(bytes(f["config"]).decode())["epoch"]
        history = model.fit(x, y, batch_size=16, epochs=EPOCHS, initial_epoch=epoch,
                            validation_split=0.25, callbacks=callbacks, verbose=0)
    else:
        mg.random.seed(0)
        model = new_model()
        if mode == "interrupted":
            callbacks.append(StallMidEpoch(KILL_EPOCH, os.path.join(d, "ready")))
        history = model.fit(x, y, batch_size=16, epochs=EPOCHS, validation_split=0.25,
                            callbacks=callbacks, verbose=0)
    np.savez(os.path.join(d, "final.npz"), *model.get_weights())
    with open(os.path.join(d, "history.json"), "w") as f:
        json.dump({"epoch": history.epoch, **history.history}, f)


def save_loop(d):
    """Save forever; every file written has all weights equal to its iteration."""
    model = mg.Sequential([L.Dense(512, input_shape=(512,)), L.Dense(512)])
    model.compile(optimizer="adam", loss="mse")
    path = os.path.join(d, "model.npz")
    i = 0
    while True:
        model.set_weights([np.full(w.shape, i, "f4") for w in model.get_weights()])
        model.save(path)
        if i == 0:
            open(os.path.join(d, "ready"), "w").close()
        i += 1


def spawn(*args):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], env=ENV,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc, timeout=90):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("a training subprocess hung")
    assert proc.returncode == 0, err.decode()[-3000:]


def wait_for(path, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            pytest.fail(f"subprocess ended early: {proc.stderr.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"subprocess never wrote {path}")
        time.sleep(0.01)


# ------------------------------------------------------------------- tests
def test_killed_and_resumed_run_is_bit_identical(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir(), cut.mkdir()
    uninterrupted = spawn("full", str(full))
    interrupted = spawn("interrupted", str(cut))
    wait_for(str(cut / "ready"), interrupted)
    os.kill(interrupted.pid, signal.SIGKILL)           # mid-epoch, like a crash
    interrupted.wait(30)
    assert interrupted.returncode == -signal.SIGKILL
    assert not (cut / "final.npz").exists()
    with np.load(cut / "ckpt.npz") as f:
        assert json.loads(bytes(f["config"]).decode())["epoch"] == KILL_EPOCH
    finish(spawn("resume", str(cut)))
    finish(uninterrupted)

    with np.load(full / "final.npz") as a, np.load(cut / "final.npz") as b:
        assert len(a.files) == len(b.files) == 4
        for k in a.files:
            assert np.array_equal(a[k], b[k]), f"weight {k} differs after resuming"
    h_full = json.loads((full / "history.json").read_text())
    h_cut = json.loads((cut / "history.json").read_text())
    assert h_cut["epoch"] == list(range(KILL_EPOCH, EPOCHS))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert h_cut[key] == h_full[key][KILL_EPOCH:], key
    # the final checkpoints (weights, optimizer state) agree too
    with np.load(full / "ckpt.npz") as a, np.load(cut / "ckpt.npz") as b:
        for k in a.files:
            if k != "config":
                assert np.array_equal(a[k], b[k]), k


def test_resume_needs_the_saved_random_state(tmp_path):
    """Control: without the checkpoint's random state the resumed run differs,
    so the bit-identical test above really depends on what the checkpoint carries."""
    x, y = data()
    mg.random.seed(0)
    model = new_model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "m.npz")
    model.save(path)
    model.fit(x, y, batch_size=16, epochs=2, initial_epoch=1, verbose=0)
    want = model.get_weights()

    resumed = mg.load_model(path)
    resumed.fit(x, y, batch_size=16, epochs=2, initial_epoch=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(want, resumed.get_weights()))

    other = mg.load_model(path)
    mg.random.seed(1)                                   # a different shuffle/dropout
    other.fit(x, y, batch_size=16, epochs=2, initial_epoch=1, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(want, other.get_weights()))


def test_private_dropout_generator_is_checkpointed(tmp_path):
    layer_model = mg.Sequential([L.Dropout(0.5, seed=3, input_shape=(64,))])
    layer_model(np.ones((2, 64), "f4"), training=True)   # advance its generator
    layer_model.save(str(tmp_path / "d.npz"))
    want = layer_model(np.ones((2, 64), "f4"), training=True).numpy()
    loaded = mg.load_model(str(tmp_path / "d.npz"))
    assert np.array_equal(loaded(np.ones((2, 64), "f4"), training=True).numpy(), want)
    # inference does not consume the private stream
    layer_model.predict(np.ones((2, 64), "f4"), verbose=0)
    loaded.predict(np.ones((2, 64), "f4"), verbose=0)
    assert np.array_equal(loaded(np.ones((2, 64), "f4"), training=True).numpy(),
                          layer_model(np.ones((2, 64), "f4"), training=True).numpy())


def test_kill_during_save_leaves_a_loadable_file(tmp_path):
    delays = [0.0, 0.013, 0.031, 0.057, 0.093]
    for n, delay in enumerate(delays):
        d = tmp_path / f"run{n}"
        d.mkdir()
        proc = spawn("saveloop", str(d))
        wait_for(str(d / "ready"), proc)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        model = mg.load_model(str(d / "model.npz"))     # never a half-written file
        weights = model.get_weights()
        value = weights[0].flat[0]
        assert all((w == value).all() for w in weights), "a mix of two saves"
        assert model.optimizer is not None


def test_nan_epoch_does_not_overwrite_the_last_good_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 4)).astype("f4"), rng.standard_normal((32, 1)).astype("f4")
    mg.random.seed(0)
    model = mg.Sequential([L.Dense(1, input_shape=(4,))])
    model.compile(optimizer=mg.optimizers.SGD(0.01), loss="mse")
    path = str(tmp_path / "best.npz")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(path)])
    good = mg.load_model(path).get_weights()
    model.optimizer.learning_rate = 1e30                 # diverge
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x * 1e6, y, epochs=4, initial_epoch=2, verbose=0,
                  callbacks=[ModelCheckpoint(path)])
    assert any("not saving" in str(w.message) for w in caught)
    assert any("TerminateOnNaN" in str(w.message) for w in caught)
    kept = mg.load_model(path).get_weights()
    assert all(np.array_equal(a, b) and np.isfinite(a).all() for a, b in zip(good, kept))


def test_checkpoint_save_best_only_and_early_stopping(tmp_path):
    class Script(Callback):  # feeds a scripted val_loss to the callbacks after it
        def __init__(self, values):
            self.values = values

        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = self.values[epoch]

    x, y = np.ones((8, 2), "f4"), np.ones((8, 1), "f4")
    model = mg.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    ckpt = ModelCheckpoint(str(tmp_path / "b{epoch}.npz"), save_best_only=True)
    stop = EarlyStopping(patience=2, restore_best_weights=True)
    values = [5.0, 3.0, 4.0, 2.0, 2.5, 2.6, 9.0, 9.0]
    history = model.fit(x, y, epochs=8, verbose=0,
                        callbacks=[Script(values), ckpt, stop])
    # improvements at epochs 1, 2, 4 (1-based); two bad epochs (5, 6) then stop
    assert sorted(os.listdir(tmp_path)) == ["b1.npz", "b2.npz", "b4.npz"]
    assert history.epoch == [0, 1, 2, 3, 4, 5] and stop.stopped_epoch == 5
    assert ckpt.best == 2.0
    best = mg.load_model(str(tmp_path / "b4.npz")).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(best, model.get_weights()))


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    mode, directory = sys.argv[1], sys.argv[2]
    if mode == "saveloop":
        save_loop(directory)
    else:
        job(mode, directory)

"""EarlyStopping with Keras 3's semantics (issues 10.5, 18.3) and ModelCheckpoint's
folder checked before training (18.6). Expected epochs follow Keras 3's
keras/src/callbacks/early_stopping.py, derived by hand for each script of
monitored values."""
import os
import stat
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers as L
from minigrad.callbacks import Callback, EarlyStopping, ModelCheckpoint

X, Y = np.ones((8, 2), "f4"), np.ones((8, 1), "f4")


class Script(Callback):
    """Writes a scripted val_loss into the logs and records the weights per epoch."""

    def __init__(self, values):
        self.values, self.weights, self.begun = values, [], 0

    def on_epoch_begin(self, epoch, logs=None):
        self.begun += 1

    def on_epoch_end(self, epoch, logs=None):
        if self.values is not None:
            logs["val_loss"] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def run(values, stop, epochs=None):
    mg.random.seed(0)
    model = mg.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    script = Script(values)
    history = model.fit(X, Y, epochs=epochs or len(values), verbose=0,
                        callbacks=[script, stop])
    return model, script, history


def same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


# ---------------------------------------------------------- EarlyStopping
def test_restore_best_weights_at_the_end_without_stopping_early():
    stop = EarlyStopping(patience=5, restore_best_weights=True)
    model, script, history = run([3.0, 1.0, 2.0], stop)
    assert len(history.epoch) == 3 and stop.stopped_epoch == 0  # no early stop
    assert same(model.get_weights(), script.weights[1]) and stop.best_epoch == 1
    assert not same(model.get_weights(), script.weights[2])


def test_restore_best_weights_when_stopping_early():
    stop = EarlyStopping(patience=1, restore_best_weights=True)
    model, script, history = run([3.0, 1.0, 2.0, 2.5, 0.5], stop)
    assert history.epoch == [0, 1, 2] and stop.stopped_epoch == 2
    assert same(model.get_weights(), script.weights[1])


def test_without_restore_the_last_weights_stay():
    stop = EarlyStopping(patience=5)
    model, script, _ = run([3.0, 1.0, 2.0], stop)
    assert same(model.get_weights(), script.weights[2])


def test_baseline_restarts_patience_only_on_epochs_that_beat_it():
    # worsening values: without a baseline the first epoch resets the count and
    # the stop comes at epoch 2 (patience 2); with a baseline no epoch beats it,
    # so the count runs from epoch 0 and the stop comes at epoch 1
    _, _, plain = run([5.0, 6.0, 7.0, 8.0], EarlyStopping(patience=2))
    stop = EarlyStopping(patience=2, baseline=1.0, restore_best_weights=True)
    model, script, based = run([5.0, 6.0, 7.0, 8.0], stop)
    assert plain.epoch == [0, 1, 2] and based.epoch == [0, 1]
    assert same(model.get_weights(), script.weights[0])  # best of the set is restored


def test_baseline_beaten_resets_patience():
    stop = EarlyStopping(patience=1, baseline=2.0)
    _, _, history = run([1.5, 1.4, 1.3, 1.35, 1.2], stop)
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3


def test_start_from_epoch_skips_the_warm_up():
    _, _, plain = run([1.0, 2.0, 3.0, 4.0, 5.0], EarlyStopping(patience=0))
    stop = EarlyStopping(patience=0, start_from_epoch=2)
    _, _, warm = run([1.0, 2.0, 3.0, 4.0, 5.0], stop)
    assert plain.epoch == [0, 1] and warm.epoch == [0, 1, 2, 3] and stop.best == 3.0


def test_a_missing_monitor_warns_with_the_logged_names_once():
    stop = EarlyStopping(monitor="val_acc", patience=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, history = run(None, stop, epochs=3)
    messages = [str(w.message) for w in caught if "Early stopping" in str(w.message)]
    assert messages == ["Early stopping conditioned on metric `val_acc` which is not "
                        "available. Available metrics are: loss"]
    assert len(history.epoch) == 3


def test_verbose_reports_the_stop_and_the_restore(capsys):
    run([3.0, 1.0, 2.0, 2.5], EarlyStopping(patience=1, verbose=1, restore_best_weights=True))
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_one_instance_can_be_reused_across_fits():
    stop = EarlyStopping(patience=0, restore_best_weights=True)
    run([1.0, 2.0, 3.0], stop)
    _, script, history = run([9.0, 8.0, 9.5], stop)
    assert history.epoch == [0, 1, 2] and stop.best == 8.0 and stop.best_epoch == 1


@pytest.mark.parametrize("kw,fragment", [
    ({"start_from_epoch": -1}, "`start_from_epoch` must be an int >= 0"),
    ({"start_from_epoch": 1.5}, "`start_from_epoch` must be an int >= 0"),
    ({"baseline": float("nan")}, "`baseline` must be a finite number"),
    ({"baseline": "low"}, "`baseline` must be a finite number"),
    ({"verbose": -1}, "`verbose` must be an int >= 0"),
    ({"patience": 2.5}, "`patience` must be an int >= 0"),
])
def test_bad_arguments(kw, fragment):
    with pytest.raises(ValueError, match=fragment):
        EarlyStopping(**kw)


def test_keras_argument_order():
    stop = EarlyStopping("loss", 0.1, 3, 1, "min", 2.0, True, 4)
    assert (stop.monitor, stop.min_delta, stop.patience, stop.verbose, stop.mode,
            stop.baseline, stop.restore_best_weights, stop.start_from_epoch) == \
        ("loss", 0.1, 3, 1, "min", 2.0, True, 4)


# -------------------------------------------------------- ModelCheckpoint
def fit_with_checkpoint(path):
    script = Script(None)
    model = mg.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    try:
        model.fit(X, Y, epochs=2, verbose=0, callbacks=[script, ModelCheckpoint(path)])
    finally:
        fit_with_checkpoint.begun = script.begun
        fit_with_checkpoint.unchanged = same(before, model.get_weights())


def test_missing_folders_are_made_as_keras_does(tmp_path):
    path = tmp_path / "runs" / "a" / "ckpt-{epoch}.npz"
    fit_with_checkpoint(str(path))
    assert sorted(os.listdir(tmp_path / "runs" / "a")) == ["ckpt-1.npz", "ckpt-2.npz"]


def test_a_file_in_the_folder_path_fails_before_the_first_epoch(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder")
    with pytest.raises(NotADirectoryError, match="is a file"):
        fit_with_checkpoint(str(tmp_path / "plain" / "sub" / "ckpt.npz"))
    assert fit_with_checkpoint.begun == 0 and fit_with_checkpoint.unchanged


def test_an_existing_folder_as_filepath_fails_before_the_first_epoch(tmp_path):
    with pytest.raises(IsADirectoryError, match="is an existing folder"):
        fit_with_checkpoint(str(tmp_path))
    assert fit_with_checkpoint.begun == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_cannot_be_made_fails_before_the_first_epoch():
    # /proc refuses new files even for root
    with pytest.raises(PermissionError, match="cannot write checkpoints"):
        fit_with_checkpoint("/proc/minigrad-checkpoints/ckpt.npz")
    assert fit_with_checkpoint.begun == 0 and fit_with_checkpoint.unchanged


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permission bits do not bind root (the /proc case covers it)")
def test_a_read_only_folder_fails_before_the_first_epoch(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(PermissionError, match="cannot write checkpoints"):
            fit_with_checkpoint(str(folder / "ckpt.npz"))
    finally:
        folder.chmod(stat.S_IRWXU)
    assert fit_with_checkpoint.begun == 0

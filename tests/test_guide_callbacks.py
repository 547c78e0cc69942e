"""keras-io's guide "Writing your own callbacks" (guides/writing_your_own_callbacks.py,
Keras 3 version), section by section, with minigrad in place of Keras, on the guide's
1000 MNIST samples.

Each test makes the guide's calls with the guide's arguments; the callbacks record what
the guide's print out, and the tests check it against what Keras 3 prints. One line of
the guide cannot run as written on NumPy 2, with Keras or minigrad: `np.Inf` (NumPy 2
spells it `np.inf`, used here).
"""
import numpy as np
import pytest

import minigrad as keras


def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1, input_dim=784))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                  loss="mean_squared_error", metrics=["mean_absolute_error"])
    return model


@pytest.fixture(scope="module")
def mnist():
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
    return x_train[:1000], y_train[:1000], x_test[:1000], y_test[:1000]


class CustomCallback(keras.callbacks.Callback):
    """The guide's CustomCallback: every hook, with the keys of the logs it gets."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def _log(self, what, logs):
        self.lines.append((what, list(logs.keys())))

    def on_train_begin(self, logs=None):
        self._log("train_begin", logs)

    def on_train_end(self, logs=None):
        self._log("train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._log(f"epoch_begin {epoch}", logs)

    def on_epoch_end(self, epoch, logs=None):
        self._log(f"epoch_end {epoch}", logs)

    def on_test_begin(self, logs=None):
        self._log("test_begin", logs)

    def on_test_end(self, logs=None):
        self._log("test_end", logs)

    def on_predict_begin(self, logs=None):
        self._log("predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._log("predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._log(f"train_batch_begin {batch}", logs)

    def on_train_batch_end(self, batch, logs=None):
        self._log(f"train_batch_end {batch}", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._log(f"test_batch_begin {batch}", logs)

    def on_test_batch_end(self, batch, logs=None):
        self._log(f"test_batch_end {batch}", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._log(f"predict_batch_begin {batch}", logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._log(f"predict_batch_end {batch}", logs)


M = ["loss", "mean_absolute_error"]
VAL = M + ["val_loss", "val_mean_absolute_error"]


def _batches(kind, n, keys):
    return [line for b in range(n) for line in
            ((f"{kind}_batch_begin {b}", []), (f"{kind}_batch_end {b}", keys))]


def test_a_basic_example(mnist):
    """What Keras 3 prints for the guide's three calls: 500 training samples (validation
    split 0.5) in 4 batches of 128, 4 validation batches, 8 test and predict batches."""
    x_train, y_train, x_test, y_test = mnist
    model = get_model()
    cb = CustomCallback()
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5,
              callbacks=[cb])
    assert cb.lines == ([("train_begin", []), ("epoch_begin 0", [])] +
                        _batches("train", 4, M) + [("test_begin", [])] +
                        _batches("test", 4, M) +
                        [("test_end", M), ("epoch_end 0", VAL), ("train_end", VAL)])
    cb = CustomCallback()
    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[cb])
    assert cb.lines == [("test_begin", [])] + _batches("test", 8, M) + [("test_end", M)]
    assert len(res) == 2
    cb = CustomCallback()
    res = model.predict(x_test, batch_size=128, callbacks=[cb])
    assert cb.lines == ([("predict_begin", [])] + _batches("predict", 8, ["outputs"]) +
                        [("predict_end", [])])
    assert res.shape == (1000, 1)


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    """The guide's: the loss after each batch, loss and MAE after each epoch."""

    def __init__(self):
        super().__init__()
        self.batch_losses, self.test_losses, self.epochs = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batch_losses.append("For batch {}, loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_test_batch_end(self, batch, logs=None):
        self.test_losses.append(logs["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((epoch, logs["loss"], logs["mean_absolute_error"]))


def test_usage_of_logs_dict(mnist):
    x_train, y_train, x_test, y_test = mnist
    model = get_model()
    cb = LossAndErrorPrintingCallback()
    history = model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0, callbacks=[cb])
    assert len(cb.batch_losses) == 2 * 8 and cb.batch_losses[0].startswith("For batch 0, ")
    assert [e[0] for e in cb.epochs] == [0, 1]
    assert [e[1] for e in cb.epochs] == history.history["loss"]
    assert [e[2] for e in cb.epochs] == history.history["mean_absolute_error"]
    cb = LossAndErrorPrintingCallback()
    loss, mae = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[cb])
    assert len(cb.test_losses) == 8
    assert cb.test_losses[-1] == pytest.approx(loss, rel=1e-6)  # running mean: the last is all


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """The guide's: stop when the loss stops falling and put back the best weights."""

    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best = 0, 0, np.inf  # the guide's np.Inf
        self.losses = []

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        self.losses.append(current)
        if np.less(current, self.best):
            self.best, self.wait = current, 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                self.model.set_weights(self.best_weights)


def test_early_stopping_at_minimum_loss(mnist):
    x_train, y_train, _, _ = mnist
    keras.random.seed(0)
    model = get_model()
    stopper = EarlyStoppingAtMinLoss()
    history = model.fit(x_train, y_train, batch_size=64, epochs=30, verbose=0,
                        callbacks=[LossAndErrorPrintingCallback(), stopper])
    # stop_training set in on_epoch_end ends fit after that epoch, as in Keras
    assert stopper.stopped_epoch == len(history.history["loss"]) - 1 < 29
    assert stopper.losses[-1] >= min(stopper.losses[:-1])
    for got, best in zip(model.get_weights(), stopper.best_weights):
        np.testing.assert_array_equal(got, best)


class CustomLearningRateScheduler(keras.callbacks.Callback):
    """The guide's: read the optimizer's learning rate, set the scheduled one."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        self.rates.append(float(np.array(scheduled_lr)))


LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]


def lr_schedule(epoch, lr):
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for start, rate in LR_SCHEDULE:
        if epoch == start:
            return rate
    return lr


def test_learning_rate_scheduling(mnist):
    x_train, y_train, _, _ = mnist
    model = get_model()
    scheduler = CustomLearningRateScheduler(lr_schedule)
    model.fit(x_train, y_train, batch_size=64, epochs=15, verbose=0,
              callbacks=[LossAndErrorPrintingCallback(), scheduler])
    assert scheduler.rates == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.01] * 3 +
                                            [0.005] * 3 + [0.001] * 3)
    assert model.optimizer.learning_rate == pytest.approx(0.001)

"""What fit/evaluate/predict take besides arrays (Keras 3): Python generators and
iterators, re-iterables such as torch DataLoaders or lists of batches, and
mg.utils.PyDataset; batches loaded ahead of the step; steps_per_epoch,
validation_data of every kind, validation_steps and validation_freq; and what goes
wrong: mismatched batches, a generator raising mid-epoch, running out of data,
inputs of an unsupported type."""
import threading
import time

import numpy as np
import pytest

import minigrad as mg
from minigrad import layers

X = np.random.default_rng(0).standard_normal((48, 5)).astype("float32")
Y = np.random.default_rng(1).integers(0, 3, 48)


def model(seed=0):
    mg.random.seed(seed)
    m = mg.Sequential([layers.Input((5,)), layers.Dense(8, activation="relu"),
                       layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def batches(n_batches=6, size=8):
    for i in range(n_batches):
        yield X[i * size:(i + 1) * size], Y[i * size:(i + 1) * size]


class Batches(mg.utils.PyDataset):
    def __init__(self, size=8, **kwargs):
        super().__init__(**kwargs)
        self.size, self.epochs_ended, self.fetched = size, 0, []

    def __len__(self):
        return len(X) // self.size

    def __getitem__(self, i):
        self.fetched.append(i)
        s = slice(i * self.size, (i + 1) * self.size)
        return X[s], Y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def reference_weights(epochs=2):
    m = model()
    m.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return m.get_weights()


def same(weights_a, weights_b):
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)


def test_generator_list_pydataset_and_arrays_train_alike(fresh_names):
    """The same batches in the same order give bit-identical weights, whatever holds them."""
    want = reference_weights()
    gen_model = model()
    gen_model.fit((b for _ in range(2) for b in batches()), steps_per_epoch=6, epochs=2,
                  verbose=0)
    same(want, gen_model.get_weights())
    list_model = model()
    list_model.fit(list(batches()), epochs=2, verbose=0)  # re-iterated each epoch
    same(want, list_model.get_weights())
    ds = Batches(workers=3)
    ds_model = model()
    history = ds_model.fit(ds, epochs=2, verbose=0, shuffle=False)
    same(want, ds_model.get_weights())
    assert ds.epochs_ended == 2 and len(history.history["loss"]) == 2


def test_batches_of_dicts_feed_named_inputs_and_outputs(fresh_names):
    """A generator of (dict of inputs, dict of targets), as the tf.data example of the
    training guide: the same weights as the arrays given as dicts."""
    def two_headed():
        mg.random.seed(3)
        a, b = mg.Input((5,), name="a"), mg.Input((2,), name="b")
        h = layers.Dense(4, activation="relu")(layers.concatenate([a, b]))
        m = mg.Model([a, b], [layers.Dense(1, name="score")(h),
                              layers.Dense(3, activation="softmax", name="cls")(h)])
        m.compile(optimizer="adam", loss={"score": "mse", "cls": "sparse_categorical_crossentropy"})
        return m

    xb, score = X[:, :2] * 2, X[:, :1] - X[:, 1:2]

    def gen():
        for i in range(0, 48, 16):
            s = slice(i, i + 16)
            yield {"a": X[s], "b": xb[s]}, {"score": score[s], "cls": Y[s]}

    from_gen, from_arrays = two_headed(), two_headed()
    h1 = from_gen.fit(gen(), verbose=0).history
    h2 = from_arrays.fit({"a": X, "b": xb}, {"score": score, "cls": Y}, batch_size=16,
                         shuffle=False, verbose=0).history
    assert h1 == h2 and set(h1) == {"loss", "score_loss", "cls_loss"}
    same(from_gen.get_weights(), from_arrays.get_weights())


def test_torch_dataloader(fresh_names):
    torch = pytest.importorskip("torch")
    dataset = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    m = model()
    m.fit(loader, epochs=2, verbose=0, validation_data=loader)
    same(reference_weights(), m.get_weights())
    assert m.evaluate(loader, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}
    assert m.predict(loader, verbose=0).shape == (48, 3)


def test_pydataset_shuffles_batch_order_and_uses_processes(fresh_names):
    ds = Batches()
    model().fit(ds, epochs=1, verbose=0, shuffle=True)
    assert sorted(ds.fetched) == list(range(6)) and ds.fetched != list(range(6))
    proc = Batches(workers=2, use_multiprocessing=True)
    m = model()
    m.fit(proc, epochs=2, verbose=0, shuffle=False)
    same(reference_weights(), m.get_weights())


def test_batches_are_loaded_ahead_of_the_step(fresh_names):
    """While batch 0 trains, the loader thread has already fetched the next ones."""
    produced = []

    def slow_source():
        for i, b in enumerate(batches()):
            produced.append(i)
            yield b

    waited = []

    class WaitForLoader(mg.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                deadline = time.time() + 5
                while len(produced) < 3 and time.time() < deadline:
                    time.sleep(0.01)
                waited.append(len(produced))

    model().fit(slow_source(), epochs=1, verbose=0, callbacks=[WaitForLoader()])
    assert waited and waited[0] >= 3


def test_validation_kinds_steps_and_freq(fresh_names):
    m = model()
    history = m.fit(X, Y, batch_size=8, epochs=4, verbose=0, validation_freq=2,
                    validation_data=(X[:16], Y[:16]))
    assert len(history.history["val_loss"]) == 2
    seen = []
    cb = mg.callbacks.LambdaCallback(on_test_batch_end=lambda b, logs: seen.append(b))
    m.fit(X, Y, epochs=1, verbose=0, validation_data=Batches(), validation_steps=2,
          callbacks=[cb])
    assert seen == [0, 1]
    history = m.fit(X, Y, epochs=2, verbose=0, validation_freq=[2],
                    validation_data=(b for _ in range(10) for b in batches()),
                    validation_steps=3)
    assert "val_loss" not in history.history or len(history.history["val_loss"]) == 1
    with pytest.raises(ValueError, match="`validation_split` is only supported for NumPy"):
        m.fit(batches(), validation_split=0.2, verbose=0)


def test_mismatched_batch_is_a_clear_error_naming_it(fresh_names):
    def bad():
        yield X[:8], Y[:8]
        yield X[8:16], Y[8:15]

    with pytest.raises(ValueError, match=r"fit \(batch 1\): x and y must have the same number "
                                         r"of samples, got 8 and 7"):
        model().fit(bad(), epochs=1, verbose=0)


def test_generator_raising_mid_epoch_propagates_and_the_model_stays_usable(fresh_names):
    class Broken(RuntimeError):
        pass

    def failing():
        yield from batches(3)
        raise Broken("disk gone")

    m = model()
    threads = threading.active_count()
    with pytest.raises(Broken, match="disk gone"):
        m.fit(failing(), epochs=1, verbose=0)
    time.sleep(0.2)
    assert threading.active_count() <= threads  # the loader thread is gone
    assert all(np.isfinite(w).all() for w in m.get_weights())
    m.fit(X, Y, epochs=1, verbose=0)  # trains again
    assert m.evaluate(X, Y, verbose=0)[0] > 0


def test_running_out_of_data_warns_and_stops(fresh_names):
    m = model()
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        history = m.fit(batches(), epochs=3, steps_per_epoch=4, verbose=0)
    # 6 batches: an epoch of 4, then one of 2 that runs out (logged, as Keras), then stop
    assert len(history.history["loss"]) == 2


def test_unsupported_input_says_what_fit_accepts(fresh_names):
    with pytest.raises(TypeError, match=r"fit: unsupported input of type builtins.object for "
                                        r"`x`; fit accepts NumPy arrays or Tensors .* a "
                                        r"minigrad.utils.PyDataset, or a Python generator"):
        model().fit(object(), verbose=0)
    with pytest.raises(ValueError, match="`y` argument is not supported when using a "
                                         "generator as input"):
        model().fit(batches(), Y, verbose=0)
    with pytest.raises(ValueError, match=r"batch 0 is a tuple of 4"):
        model().fit(((X, Y, None, 1) for _ in range(2)), verbose=0)


def test_pydataset_without_super_init_warns_as_keras(fresh_names):
    class Lazy(mg.utils.PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 2

        def __getitem__(self, i):
            return X[i * 8:(i + 1) * 8], Y[i * 8:(i + 1) * 8]

    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        model().fit(Lazy(), verbose=0)

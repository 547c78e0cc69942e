"""Real MNIST training end to end, and save / load_model (including failures)."""
import os

import numpy as np
import pytest

import minigrad as mg


@pytest.fixture(scope="module")
def mnist_small():
    (x, y), (xt, yt) = mg.datasets.mnist.load_data()
    x = (x[:6000].astype(np.float32) / 255.0)[..., None]
    xt = (xt[:2000].astype(np.float32) / 255.0)[..., None]
    return x, y[:6000], xt, yt[:2000]


@pytest.fixture(scope="module")
def trained(mnist_small, mnist_convnet):
    """The convnet after 3 epochs on 6,000 images (trained once for this module)."""
    x, y, _, _ = mnist_small
    mg.random.seed(0)
    model = mnist_convnet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    return model, history


def test_three_epochs_reach_90_percent(trained, mnist_small):
    model, history = trained
    _, _, xt, yt = mnist_small
    loss, acc = model.evaluate(xt, yt, batch_size=500, verbose=0)
    assert acc > 0.90, f"test accuracy {acc:.4f} after 3 epochs"
    assert loss < 0.4
    h = history.history
    assert len(h["loss"]) == 3 and h["loss"][2] < h["loss"][0]
    assert h["accuracy"][2] > 0.85
    pred = model.predict(xt[:500], verbose=0)
    np.testing.assert_allclose(pred.sum(axis=1), 1, rtol=1e-5)
    assert np.mean(pred.argmax(1) == yt[:500]) > 0.88


def test_save_load_predict_identical(trained, mnist_small, tmp_path):
    model, _ = trained
    _, _, xt, _ = mnist_small
    path = tmp_path / "model.npz"
    model.save(path)
    assert path.exists()
    loaded = mg.load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert loaded.count_params() == 34826
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(xt[:300], verbose=0),
                                  model.predict(xt[:300], verbose=0))
    assert loaded.evaluate(xt[:300], _labels(mnist_small)[:300], verbose=0) == \
        model.evaluate(xt[:300], _labels(mnist_small)[:300], verbose=0)
    # str paths work too
    loaded2 = mg.load_model(str(path))
    np.testing.assert_array_equal(loaded2.get_weights()[0], model.get_weights()[0])


def _labels(mnist_small):
    return mnist_small[3]


def test_loaded_model_continues_training(trained, mnist_small, tmp_path):
    """The optimizer state (Adam's step count and moments) is restored: one more
    step on the loaded model equals one more step on the original."""
    model, _ = trained
    x, y, _, _ = mnist_small
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = mg.load_model(path)
    fresh = mg.load_model(path)
    assert isinstance(loaded.optimizer, mg.optimizers.Adam)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3 * 47
    _, slots_a = loaded.optimizer.get_state()
    _, slots_b = model.optimizer.get_state()
    assert len(slots_a) == len(slots_b) == 12
    for a, b in zip(slots_a, slots_b):
        np.testing.assert_array_equal(a, b)

    xb, yb = x[:128], y[:128]
    before = model.get_weights()
    mg.random.seed(7)
    model.fit(xb, yb, batch_size=128, epochs=1, shuffle=False, verbose=0)
    mg.random.seed(7)
    loaded.fit(xb, yb, batch_size=128, epochs=1, shuffle=False, verbose=0)
    # the same step without the saved state (a new Adam) lands elsewhere
    fresh.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    mg.random.seed(7)
    fresh.fit(xb, yb, batch_size=128, epochs=1, shuffle=False, verbose=0)
    assert loaded.optimizer.iterations == 3 * 47 + 1
    for a, b, f, w0 in zip(loaded.get_weights(), model.get_weights(), fresh.get_weights(),
                           before):
        assert not np.array_equal(a, w0)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(fresh.get_weights()[0], model.get_weights()[0], rtol=1e-5,
                           atol=1e-7)


def test_failed_save_keeps_old_file(trained, mnist_small, tmp_path, monkeypatch):
    model, _ = trained
    _, _, xt, _ = mnist_small
    path = tmp_path / "model.npz"
    model.save(path)
    old_bytes = path.read_bytes()
    expected = model.predict(xt[:50], verbose=0)

    def broken_savez(file, *args, **kwds):
        file.write(b"PK\x03\x04 half a zip file")   # something written, then a failure
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]    # no temporary file left behind
    np.testing.assert_array_equal(mg.load_model(path).predict(xt[:50], verbose=0), expected)


def test_failed_save_unserialisable_config(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    old_bytes = path.read_bytes()
    layer = model.layers[0]
    original = layer.get_config

    layer.get_config = lambda: {**original(), "bad": object()}  # json cannot write this
    try:
        with pytest.raises(TypeError):
            model.save(path)
    finally:
        del layer.get_config
    assert path.read_bytes() == old_bytes
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_save_creates_and_overwrites(tmp_path, mnist_convnet):
    mg.random.seed(1)
    model = mnist_convnet()
    path = tmp_path / "m.npz"
    model.save(path)                          # not compiled: weights and config only
    loaded = mg.load_model(path)
    assert loaded.optimizer is None
    x = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.set_weights([w * 0 for w in model.get_weights()])
    model.save(path)
    np.testing.assert_array_equal(mg.load_model(path).predict(x, verbose=0),
                                  np.full((4, 10), 0.1, np.float32))


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        mg.load_model(tmp_path / "nope.npz")


def test_load_random_bytes(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError):
        mg.load_model(path)


def test_load_truncated_file(tmp_path, mnist_convnet):
    mg.random.seed(2)
    model = mnist_convnet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "m.npz"
    model.save(path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            mg.load_model(bad)


def test_load_npz_that_is_not_a_model(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError):
        mg.load_model(path)

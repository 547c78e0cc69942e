"""The .keras format and weights files written and read by minigrad: round trips
(Sequential, functional, subclassed, nested; predictions, optimizer state and a
resumed fit identical), the choice of format by suffix, ModelCheckpoint with
save_weights_only, and bad files (each a ValueError naming the file, the model
untouched)."""
import io
import json
import os
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import minigrad as mg
from kill_helpers import run_and_kill_when_ready
from minigrad import layers as L

h5py = pytest.importorskip("h5py")

X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
Y = np.arange(16) % 3


def sequential():
    mg.random.seed(0)
    return mg.Sequential([mg.Input((4,)), L.Dense(8, activation="relu"),
                          L.BatchNormalization(), L.Dropout(0.2, seed=1),
                          L.Dense(3, activation="softmax")])


def functional():
    mg.random.seed(0)
    inp = mg.Input((4,))
    inner = mg.Sequential([L.Dense(6, activation="tanh"), L.Dense(6)], name="inner")
    h = L.Add()([inner(inp), L.Dense(6)(inp)])
    return mg.Model(inp, L.Dense(3, activation="softmax")(h))


@mg.saving.register_keras_serializable(package="minigrad_tests")
class Residual(mg.Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = L.Dense(4, activation="relu")
        self.out = L.Dense(units, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(inputs) + inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def subclassed():
    mg.random.seed(0)
    model = Residual()
    model.build((None, 4))
    return model


def trained(make, epochs=1):
    model = make()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(X, Y, epochs=epochs, batch_size=8, verbose=0)
    return model


@pytest.mark.parametrize("make", [sequential, functional, subclassed])
def test_keras_file_round_trip_keeps_predictions_and_optimizer_state(tmp_path, make):
    model = trained(make)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"metadata.json", "config.json", "model.weights.h5"}
        config = json.loads(zf.read("config.json"))
    assert config["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    again = mg.load_model(path)
    assert type(again) is type(model)
    assert np.array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))
    (it_a, slots_a), (it_b, slots_b) = model.optimizer.get_state(), again.optimizer.get_state()
    assert it_a == it_b == 2 and len(slots_a) == len(slots_b) > 0
    assert all(np.array_equal(a, b) for a, b in zip(slots_a, slots_b))


def test_resume_from_a_keras_file_is_bit_identical(tmp_path):
    unbroken = trained(sequential, epochs=2)
    first = trained(sequential, epochs=1)
    first.save(tmp_path / "m.keras")
    mg.random.seed(123)  # whatever happens between: the file restores the generators
    resumed = mg.load_model(tmp_path / "m.keras")
    resumed.fit(X, Y, epochs=2, initial_epoch=1, batch_size=8, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(unbroken.get_weights(),
                                                     resumed.get_weights()))


@pytest.mark.parametrize("suffix", [".weights.h5", ".npz"])
def test_weights_files_round_trip_in_keras_layout(tmp_path, suffix):
    model = trained(functional)
    path = tmp_path / f"w{suffix}"
    model.save_weights(path)
    fresh = functional()
    fresh.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    fresh.fit(X, Y, epochs=1, batch_size=16, verbose=0)  # builds its optimizer
    fresh.load_weights(path)
    assert np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))
    assert fresh.optimizer.iterations == model.optimizer.iterations
    if suffix == ".weights.h5":
        with h5py.File(path) as f:
            assert f["layers/dense/vars"].attrs["name"] == model.layers[2].name
            assert f["layers/sequential/layers/dense/vars/0"].shape == (4, 6)
            assert f["optimizer/vars/0"][()] == 2


def test_format_follows_the_suffix_and_others_are_refused(tmp_path):
    model = sequential()
    for bad in ("m.h5", "m.pkl", "m"):
        with pytest.raises(ValueError, match=r"\.keras or \.npz.*filepath=.*" + bad):
            model.save(tmp_path / bad)
    with pytest.raises(ValueError, match=r"\.weights\.h5 or \.npz"):
        model.save_weights(tmp_path / "w.h5")
    checkpoint = mg.callbacks.ModelCheckpoint(str(tmp_path / "c-{epoch}.keras"),
                                              save_weights_only=True)
    with pytest.raises(ValueError, match=r"save_weights_only.*\.weights\.h5 or \.npz"):
        trained(sequential).fit(X, Y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert not os.listdir(tmp_path)  # refused before training, nothing written


def test_model_checkpoint_saves_weights_with_epoch_templates(tmp_path):
    model = trained(sequential)
    template = str(tmp_path / "w-{epoch:02d}.weights.h5")
    model.fit(X, Y, epochs=2, verbose=0,
              callbacks=[mg.callbacks.ModelCheckpoint(template, save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["w-01.weights.h5", "w-02.weights.h5"]
    fresh = sequential()
    fresh.load_weights(tmp_path / "w-02.weights.h5")
    assert np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_custom_activation_in_a_keras_file_needs_custom_objects(tmp_path):
    def custom_fn(x):
        return mg.activations.tanh(x) * 3.0
    model = mg.Sequential([mg.Input((4,)), L.Dense(2, activation=custom_fn)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="'custom_fn'"):
        mg.load_model(tmp_path / "m.keras")
    again = mg.load_model(tmp_path / "m.keras", custom_objects={"custom_fn": custom_fn})
    assert np.array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


# --------------------------------------------------------------- bad files
def rewrite(path, edit):
    """Rewrite a .keras archive's members through edit({name: bytes})."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    edit(members)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def edit_json(name, fn):
    def edit(members):
        doc = json.loads(members[name])
        fn(doc)
        members[name] = json.dumps(doc).encode()
    return edit


def edit_h5(fn):
    def edit(members):
        buffer = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buffer, "a") as f:
            fn(f)
        members["model.weights.h5"] = buffer.getvalue()
    return edit


def _rename(doc):
    doc["config"]["layers"][1]["class_name"] = "Frobnicate"


def _reshape(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = np.zeros((5, 8), "float32")


BAD = {
    "unknown class": (edit_json("config.json", _rename), "unknown class or function 'Frobnicate'"),
    "shape mismatch": (edit_h5(_reshape), r"'layers/dense/vars'.*variable 0.*\(5, 8\).*\(4, 8\)"),
    "missing dataset": (edit_h5(lambda f: f.__delitem__("layers/dense/vars/1")),
                        r"'layers/dense/vars'.*expects 2 variables.*has 1"),
    "newer minigrad": (edit_json("metadata.json", lambda d: d.update(minigrad_format=99)),
                       "newer minigrad"),
    "newer keras": (edit_json("metadata.json", lambda d: d.update(keras_version="4.0.0")),
                    "written by Keras 4.0.0"),
    "no weights": (lambda m: m.pop("model.weights.h5"), "lacks.*model.weights.h5"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_keras_files_are_value_errors_naming_the_file(tmp_path, case):
    edit, message = BAD[case]
    path = tmp_path / "m.keras"
    sequential().save(path)
    rewrite(path, edit)
    state = mg.random.get_state()
    with pytest.raises(ValueError, match=message) as info:
        mg.load_model(path)
    assert str(path) in str(info.value)
    assert mg.random.get_state() == state


def test_truncated_keras_file_is_a_value_error(tmp_path):
    path = tmp_path / "m.keras"
    sequential().save(path)
    data = path.read_bytes()
    for size in (0, 10, len(data) // 2, len(data) - 10):
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match="m.keras"):
            mg.load_model(path)


def test_load_weights_that_do_not_fit_leave_the_model_untouched(tmp_path):
    other = mg.Sequential([mg.Input((4,)), L.Dense(8, activation="relu"),
                           L.BatchNormalization(), L.Dense(2)])
    other.save_weights(tmp_path / "w.weights.h5")
    model = sequential()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"w\.weights\.h5.*layer 'dense_\d+'.*\(8, 2\).*\(8, 3\)"):
        model.load_weights(tmp_path / "w.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)  # the rest loads
    assert np.array_equal(model.layers[0].get_weights()[0], other.layers[0].get_weights()[0])


def test_failed_keras_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    model = sequential()
    model.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", boom)
    with pytest.raises(OSError, match="disk full"):
        trained(sequential).save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.keras"]


def test_without_h5py_keras_files_are_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"minigrad\[keras\]"):
        sequential().save(tmp_path / "m.keras")
    sequential().save(tmp_path / "m.npz")  # minigrad's own format needs no h5py
    sequential().save_weights(tmp_path / "w.npz")


def test_killed_keras_save_leaves_the_previous_file_loadable(tmp_path):
    """SIGKILL while the zip is half written: the old file is intact, and the next save
    removes the killed save's temporary file."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = tmp_path / "m.keras"
    sequential().save(path)
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import sys, time, zipfile
        sys.path.insert(0, {root!r})
        import minigrad as mg
        model = mg.Sequential([mg.Input((4,)), mg.layers.Dense(2)])
        write = zipfile.ZipFile.writestr
        def hang(self, name, data, *args, **kwargs):
            write(self, name, data, *args, **kwargs)
            self.fp.flush()
            open({str(tmp_path / 'ready')!r}, "w").close()
            time.sleep(60)
        zipfile.ZipFile.writestr = hang
        model.save({str(path)!r})
    """)
    run_and_kill_when_ready(script, tmp_path / "ready")
    assert path.read_bytes() == before
    assert mg.load_model(path).predict(X, verbose=0).shape == (16, 3)
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")]) == 1
    sequential().save(path)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_load_weights_from_a_keras_file_and_overwrite_false(tmp_path):
    model = trained(sequential)
    model.save(tmp_path / "m.keras")
    fresh = sequential()
    fresh.load_weights(tmp_path / "m.keras")
    assert np.array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save_weights(tmp_path / "w.weights.h5", overwrite=False)
    with pytest.raises(ValueError, match="load it with mg.load_model"):
        model.save(tmp_path / "m.npz")
        fresh.load_weights(tmp_path / "m.npz")


def test_load_model_without_compile_leaves_the_model_uncompiled(tmp_path):
    model = trained(sequential)
    model.save(tmp_path / "m.keras")
    again = mg.load_model(tmp_path / "m.keras", compile=False)
    assert again.optimizer is None and not again.compiled
    assert np.array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


def test_a_decompression_bomb_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from minigrad.saving import keras_file
    path = tmp_path / "m.keras"
    sequential().save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["config.json"] += b" " * 200_000  # valid JSON, 1000x compressible
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert mg.load_model(path).built  # under the 4 GiB floor: read
    monkeypatch.setattr(keras_file, "_BOMB_FLOOR", 100_000)
    with pytest.raises(ValueError, match="m.keras.*'config.json'.*decompression bomb"):
        mg.load_model(path)


def test_an_h5_dataset_declaring_far_more_than_it_stores_is_refused(tmp_path, monkeypatch):
    from minigrad.saving import weights_store
    path = tmp_path / "w.weights.h5"
    sequential().save_weights(path)
    with h5py.File(path, "a") as f:  # 1 MB of zeros, compressed to almost nothing
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", data=np.zeros((4, 8), "f4"))
        f.create_dataset("extra", shape=(1000, 250), dtype="f4", compression="gzip",
                         data=np.zeros((1000, 250), "f4"))
    monkeypatch.setattr(weights_store, "_BOMB_FLOOR", 100_000)
    with pytest.raises(ValueError, match="w.weights.h5.*'extra'.*decompression bomb"):
        sequential().load_weights(path)


def test_weighted_metrics_and_metric_objects_come_back_compiled(tmp_path):
    model = sequential()
    model.compile(optimizer="adam", loss=mg.losses.SparseCategoricalCrossentropy(),
                  metrics=[mg.metrics.SparseCategoricalAccuracy(name="acc")],
                  weighted_metrics=["sparse_categorical_accuracy"])
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = mg.load_model(tmp_path / "m.keras")
    assert again.get_compile_config() == model.get_compile_config()
    assert again.evaluate(X, Y, verbose=0, return_dict=True) == \
        model.evaluate(X, Y, verbose=0, return_dict=True)

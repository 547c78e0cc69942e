"""Saving and loading models: every defect of a file is a ValueError naming it
(single-byte corruptions, tampered configs, optimizer state that does not fit),
nothing is used before it is checked, stale temporary files of killed saves are
cleared, files respect the umask, and oversized layers say how many bytes."""
import json
import os
import textwrap

import numpy as np
import pytest

import minigrad as mg
from kill_helpers import run_and_kill_when_ready
from minigrad import layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_model(optimizer="adam"):
    mg.random.seed(0)
    model = mg.Sequential([layers.Dense(3, activation="relu", input_shape=(4,)),
                           layers.Dropout(0.2, seed=1), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(np.ones((8, 4), "f4"), np.array([0, 1] * 4), epochs=1, verbose=0)
    return model


def arrays_of(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def rewrite(path, arrays: dict) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def tampered(path, edit) -> None:
    arrays = arrays_of(path)
    meta = json.loads(bytes(arrays["config"]).decode())
    edit(meta)
    arrays["config"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    rewrite(path, arrays)


def load_or_value_error(path):
    """A file loads (then the model works) or is a ValueError naming it: nothing else."""
    state = mg.random.get_state()
    try:
        model = mg.load_model(path)
    except ValueError as e:
        assert str(path) in str(e), e
        assert mg.random.get_state() == state  # a failed load changed nothing
        return None
    model.predict(np.ones((2, 4), "f4"), verbose=0)
    if model.optimizer is not None and model.loss is not None:
        model.fit(np.ones((4, 4), "f4"), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    return model


# --------------------------------------------------- optimizer state (10.8)
@pytest.mark.parametrize("edit", ["shape", "count", "dtype", "iterations"])
def test_optimizer_state_is_checked_against_the_model(tmp_path, edit):
    path = tmp_path / "m.npz"
    small_model().save(path)
    arrays = arrays_of(path)
    if edit == "shape":
        arrays["optimizer_0000"] = np.zeros((5, 3), "f4")
    elif edit == "count":
        del arrays["optimizer_0007"]
    elif edit == "dtype":
        arrays["optimizer_0002"] = arrays["optimizer_0002"].astype(np.int32)
    rewrite(path, arrays)
    if edit == "iterations":
        tampered(path, lambda m: m["compile"]["optimizer"].update(iterations=-3))
    match = {"shape": "optimizer array 0", "count": "7 optimizer arrays for 4 trainable",
             "dtype": "floating point", "iterations": "iterations must be an int"}[edit]
    with pytest.raises(ValueError, match=match) as info:
        mg.load_model(path)
    assert str(path) in str(info.value)
    good = small_model()
    good.fit(np.ones((4, 4), "f4"), np.array([0, 1, 0, 1]), epochs=1, verbose=0)


def test_foreign_optimizer_or_loss_class_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    small_model().save(path)
    tampered(path, lambda m: m["compile"]["optimizer"].update(class_name="np"))
    with pytest.raises(ValueError, match="unknown optimizer 'np'"):
        mg.load_model(path)
    small_model().save(path)
    tampered(path, lambda m: m["compile"]["loss"].update(class_name="Loss"))
    with pytest.raises(ValueError, match="unknown loss 'Loss'"):
        mg.load_model(path)


# ---------------------------------------------------- corruption (18.6)
def test_every_single_byte_corruption_is_a_value_error_or_harmless(tmp_path):
    path = tmp_path / "m.npz"
    small_model().save(path)
    data = path.read_bytes()
    bad = tmp_path / "bad.npz"
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(len(data)):
        corrupted = bytearray(data)
        corrupted[i] ^= 0xFF
        bad.write_bytes(bytes(corrupted))
        outcomes["refused" if load_or_value_error(bad) is None else "loaded"] += 1
    assert outcomes["refused"] > len(data) // 2, outcomes


def _config_paths(node, path=()):
    """Every key path in a JSON config."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,)
            yield from _config_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield path + (i,)
            yield from _config_paths(v, path + (i,))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_tampered_configs_are_value_errors(tmp_path, kind):
    path = tmp_path / "m.npz"
    if kind == "sequential":
        small_model().save(path)
    else:
        i = mg.Input((4,), name="x")
        model = mg.Model(i, layers.Dense(2, activation="softmax")(layers.Dense(3)(i)))
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.save(path)
    meta = json.loads(bytes(arrays_of(path)["config"]).decode())
    bad = tmp_path / "bad.npz"
    paths = [p for p in _config_paths(meta) if p[0] not in ("random_state",)]
    for key_path in paths:
        for replacement in ("<delete>", None, "x", -1, [], {}):
            arrays = arrays_of(path)
            edited = json.loads(json.dumps(meta))
            parent = edited
            for k in key_path[:-1]:
                parent = parent[k]
            if replacement == "<delete>":
                if isinstance(parent, list):
                    parent.pop(key_path[-1])
                else:
                    del parent[key_path[-1]]
            else:
                parent[key_path[-1]] = replacement
            arrays["config"] = np.frombuffer(json.dumps(edited).encode(), np.uint8)
            rewrite(bad, arrays)
            try:
                load_or_value_error(bad)
            except AssertionError:
                raise
            except Exception as e:  # anything but ValueError is a failure, with its case
                pytest.fail(f"{key_path} -> {replacement!r}: {type(e).__name__}: {e}")


# ------------------------------------------------------------ files (18.6)
def test_save_respects_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        small_model().save(tmp_path / "m.npz")
        np.savez(tmp_path / "ref.npz", a=np.zeros(2))
    finally:
        os.umask(old)
    mode = os.stat(tmp_path / "m.npz").st_mode & 0o777
    assert mode == os.stat(tmp_path / "ref.npz").st_mode & 0o777 == 0o640


def test_stale_temporary_files_are_removed_on_the_next_save(tmp_path):
    dead = 4_194_000  # above the usual pid_max: no such process
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
        except PermissionError:
            dead += 1
    stale = tmp_path / f".m.npz.{dead}-0badc0de.tmp"
    live = tmp_path / f".m.npz.{os.getppid()}-feedbeef.tmp"   # a live process's save
    other = tmp_path / f".other.npz.{dead}-00000000.tmp"      # another file's
    for f in (stale, live, other):
        f.write_bytes(b"half a zip")
    small_model().save(tmp_path / "m.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(["m.npz", live.name, other.name])


def test_killed_save_leaves_a_stale_file_that_the_next_save_removes(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        import numpy as np
        import minigrad as mg
        model = mg.Sequential([mg.layers.Dense(2, input_shape=(3,))])
        def hang(f, **arrays):
            f.write(b"PK partial")
            f.flush()
            open({str(tmp_path / 'ready')!r}, "w").close()
            time.sleep(60)
        np.savez = hang
        model.save({str(tmp_path / 'm.npz')!r})
    """)
    run_and_kill_when_ready(script, tmp_path / "ready")
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1  # what a SIGKILL during save leaves
    small_model().save(tmp_path / "m.npz")
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert mg.load_model(tmp_path / "m.npz").built


def test_a_layer_too_large_for_memory_names_itself_and_the_bytes():
    with pytest.raises(MemoryError, match=r"layer 'huge' weight 'kernel'.*40,000,000,000,000 "
                                          r"bytes"):
        layers.Dense(10**7, name="huge").build((None, 10**6))
    with pytest.raises(MemoryError, match="'vast'.*bytes"):  # beyond any array size
        mg.Sequential([layers.Dense(2**40, name="vast", input_shape=(2**30,))])

"""Model.warmup compiles a cold step's CPU kernels on two processes at once
(backends/cpu/compile_ahead.py): its dry run notes kernels without running them,
only in its own thread, and the training that follows is the same to the bit."""
from __future__ import annotations

import json
import os
import sys
import textwrap
import threading

import numpy as np
import pytest
from distribution_jobs import finish, spawn
from test_warmup import _fit

from minigrad.backends import get_backend
from minigrad.layers import Layer
from minigrad.backends.cpu import compile_ahead
from minigrad.backends.cpu import kernels as K

B = get_backend("cpu")


def test_a_dry_run_notes_the_kernels_and_runs_none(monkeypatch):
    y, b = np.ones((4, 8), np.float32), np.ones(8, np.float32)
    monkeypatch.setattr(K.bias_act, "min_threads", 1 << 30)   # never parallel
    with compile_ahead.dry_run() as noted:
        B.bias_act(y, b, True)
    assert (y == 1).all()                                 # nothing ran
    types = noted[0][1]
    assert noted == [(K.bias_act.serial, types)] and len(types) == 3
    monkeypatch.setattr(K.bias_act, "min_threads", 1)     # a larger batch could run it parallel
    with compile_ahead.dry_run() as noted:
        B.bias_act(y, b, True)
    assert noted == [(K.bias_act.serial, types), (K.bias_act, types)]
    B.bias_act(y, b, True)                                # out of the dry run: it runs
    assert (y == 2).all() and not compile_ahead.recording()


def test_other_threads_run_their_kernels_during_a_dry_run():
    y, b = np.ones((4, 8), np.float32), np.ones(8, np.float32)
    with compile_ahead.dry_run() as noted:
        worker = threading.Thread(target=B.bias_act, args=(y, b, True))
        worker.start()
        worker.join()
    assert (y == 2).all() and noted == []


def test_no_fork_while_other_threads_run():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="busy")
    other.start()
    try:
        assert not compile_ahead.usable()
    finally:
        stop.set()
        other.join()


def test_warmup_with_a_dry_run_changes_nothing(monkeypatch):
    """The dry steps' garbage never reaches the model: training after warmup (dry run,
    the noted builds compiled, then the real steps) equals training without warmup."""
    compiled = []

    def compile_here(noted):   # no fork inside pytest: compile in this process
        compiled.extend(dict.fromkeys(noted))
        for build, types in compiled:
            build.compile(types)
        return 0
    monkeypatch.setattr(compile_ahead, "usable", lambda: True)
    monkeypatch.setattr(compile_ahead, "compile_noted", compile_here)
    _assert_same(_fit(False, "categorical_crossentropy"), _fit(True, "categorical_crossentropy"))
    assert compiled


def test_a_failing_dry_step_leaves_warmup_to_the_real_steps(monkeypatch):
    def fail(*args):
        raise FloatingPointError("garbage")
    called = []
    monkeypatch.setattr(compile_ahead, "usable", lambda: True)
    monkeypatch.setattr(compile_ahead, "note", fail)
    monkeypatch.setattr(compile_ahead, "compile_noted", called.append)
    _assert_same(_fit(False), _fit(True))
    assert called == [] and not compile_ahead.recording()


class _UserLayer(Layer):
    def call(self, x):
        return x * 1.0


def _user_activation(x):
    return x.relu()


def _user_loss(y_true, y_pred):
    return ((y_true - y_pred) ** 2).mean()


@pytest.mark.parametrize("change,own", [
    (None, True), ("layer", False), ("activation", False), ("loss", False),
    ("metric", False), ("loss object", True)])
def test_fit_compiles_ahead_only_where_its_step_runs_minigrads_code(change, own, monkeypatch):
    """fit's first batch compiles ahead (a dry step) only for a model of minigrad's own
    layers, loss and metrics: a dry step would run the user's code once more than asked.
    Either way the training is the same to the bit."""
    import minigrad as mg
    from minigrad import layers as L
    from minigrad.models import first_compile
    dry = []
    monkeypatch.setattr(compile_ahead, "usable", lambda: True)
    monkeypatch.setattr(compile_ahead, "compile_noted", lambda noted: dry.append(len(noted)))

    def fit(ahead: bool):
        mg.random.seed(5)
        hidden = [_UserLayer()] if change == "layer" else []
        model = mg.Sequential([L.Input((6,)), *hidden, L.Dense(
            4, activation=_user_activation if change == "activation" else "relu"), L.Dense(3)])
        loss = _user_loss if change == "loss" else \
            mg.losses.MeanSquaredError() if change == "loss object" else "mse"
        model.compile("adam", loss, metrics=[_user_loss] if change == "metric" else ["mae"])
        if not ahead:
            model._compiled_ahead = True
        rng = np.random.default_rng(0)
        model.fit(rng.random((16, 6), dtype="float32"), rng.random((16, 3), dtype="float32"),
                  batch_size=8, epochs=2, verbose=0)
        return model, model.get_weights()
    model, ahead = fit(True)
    assert first_compile.runs_only_minigrad_code(model) == own
    assert (len(dry) == 1 and dry[0] > 0) if own else dry == []
    _, plain = fit(False)
    assert all(np.array_equal(u, v) for u, v in zip(ahead, plain))


def _assert_same(a, b):
    (loss_a, weights_a), (loss_b, weights_b) = a, b
    assert loss_a == loss_b
    assert all(np.array_equal(u, v) for u, v in zip(weights_a, weights_b))


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from minigrad.backends.cpu import compile_ahead
    if sys.argv[1] == "off":
        compile_ahead.usable = lambda: False
    taken, later, real = [], [], compile_ahead.compile_noted
    def spy(noted):
        taken.append(real(noted))
        if compile_ahead._copy is not None:   # the parallel builds it goes on with
            later.extend(compile_ahead._copy.later)
        return taken[-1]
    compile_ahead.compile_noted = spy
    sys.path.insert(0, "tests")
    import test_warmup
    from minigrad.backends.cpu import blas, direct_conv, kernels, layer_kernels
    builds = [b for m in (kernels, layer_kernels, blas, direct_conv) for k in vars(m).values()
              if hasattr(k, "serial") for b in (k, k.serial)]
    for kernel in builds[::2]:   # every kernel on its parallel build (as large inputs)
        kernel.serial_below, kernel.min_threads = 0, 1
    count = lambda: sum(sum(b.stats.cache_misses.values()) for b in builds)   # compiled here
    mark = {}
    real_fit = test_warmup._model
    def model():   # count the builds warmup left, at the start of fit
        m = real_fit()
        fit = m.fit
        m.fit = lambda *a, **k: (mark.setdefault("after_warmup", count()), fit(*a, **k))[1]
        return m
    test_warmup._model = model
    loss, weights = test_warmup._fit(True, "categorical_crossentropy")
    if sys.argv[1] == "exit":   # at once: the copy finishes at exit (atexit), not killed
        sys.exit(0)
    after_fit = count()
    compile_ahead.finish_copy()
    for build, types in later:   # the copy's parallel builds: from the cache, not compiled
        build.compile(types)
    print(json.dumps({"taken": taken, "loss": loss, "after_warmup": mark["after_warmup"],
                      "after_fit": after_fit, "after_loading": count(), "later": len(later),
                      "parallel_compiled_here": sum(sum(b.stats.cache_misses.values())
                                                    for b in builds[::2]),
                      "loaded": sum(sum(b.stats.cache_hits.values())
                                                          for b in builds),
                      "weights": [w.tolist() for w in weights]}))
""")


@pytest.mark.skipif(not hasattr(os, "fork") or (os.cpu_count() or 1) < 2,
                    reason="needs os.fork and two CPUs")
def test_a_cold_warmup_compiles_on_a_forked_copy_and_trains_the_same(tmp_path):
    """In a fresh process with an empty Numba cache, the copy compiles some of the
    builds (the parent then loads them from the cache), warmup leaves nothing for fit
    to compile (the serial twins run while the copy compiles parallel builds), and the
    training equals one compiled the usual way. A run that exits right after fit
    leaves every build in the cache (the copy finishes at exit): a run after it on that
    cache, now warm, forks no copy (compile_ahead reads the cache's index) and trains
    the same."""
    out = {}
    for mode, cache, name in (("on", "on", "on"), ("off", "off", "off"),
                              ("exit", "early", None), ("on", "early", "warm")):
        (tmp_path / cache).mkdir(exist_ok=True)
        proc = finish(spawn([sys.executable, "-c", SCRIPT, mode],
                            {"NUMBA_CACHE_DIR": str(tmp_path / cache)}), timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Warning" not in proc.stderr, proc.stderr[-3000:]
        if name:
            out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    on, off, warm = out["on"], out["off"], out["warm"]
    assert warm["taken"] == [0] and warm["after_loading"] == 0   # all loaded, no copy
    assert warm["weights"] == on["weights"]
    assert off["taken"] == [] and off["loaded"] == 0
    assert len(on["taken"]) == 1 and on["taken"][0] >= 1
    assert on["loaded"] >= 1                              # the copy's builds, from the cache
    assert on["after_fit"] == on["after_warmup"]          # fit compiled nothing here
    assert on["later"] >= 1 and on["after_loading"] == on["after_fit"]
    assert on["parallel_compiled_here"] == 0 < off["parallel_compiled_here"]   # the copy's
    assert on["loss"] == off["loss"] and on["weights"] == off["weights"]

"""Python threads running minigrad kernels at once: no crash, the same results.

Numba's workqueue thread pool (minigrad's choice where OpenMP's is not used, see
README "CPU threads")
aborts the process when two threads launch parallel kernels at once; the CPU
backend launches one kernel at a time. Each scenario runs in a fresh
interpreter under a timeout, so a crash or a hang fails its test instead of
killing pytest.
"""
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMON = """
import threading
import numpy as np
import minigrad as mg
from minigrad import layers

def model(seed):
    mg.random.seed(seed)
    m = mg.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)),
                       layers.MaxPooling2D(2), layers.Flatten(),
                       layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m

rng = np.random.default_rng(0)
x = rng.standard_normal((64, 12, 12, 1)).astype("float32")
y = rng.integers(0, 3, 64)

def run_threads(*targets):
    errors = []
    def guarded(fn):
        try:
            fn()
        except BaseException as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=guarded, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
"""

SCENARIOS = {
    "predict_on_one_model": """
        m = model(0)
        expected = m.predict(x, batch_size=8, verbose=0)
        outs = [[], []]
        def predict(k):
            return lambda: [outs[k].append(m.predict(x, batch_size=8, verbose=0))
                            for _ in range(15)]
        run_threads(predict(0), predict(1))
        assert all(np.array_equal(o, expected) for out in outs for o in out)
    """,
    "tensor_relu": """
        t = mg.Tensor(rng.standard_normal((256, 512)).astype("float32"))
        expected = np.maximum(t.numpy(), 0)
        def relu():
            for _ in range(200):
                assert np.array_equal(t.relu().numpy(), expected)
        run_threads(relu, relu)
    """,
    "fit_two_models": """
        a, b = model(1), model(2)
        a_ref, b_ref = model(1), model(2)
        for m in (a_ref, b_ref):
            m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        run_threads(lambda: a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0),
                    lambda: b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0))
        for m, ref in ((a, a_ref), (b, b_ref)):
            for w, w_ref in zip(m.get_weights(), ref.get_weights()):
                assert np.array_equal(w, w_ref)
    """,
    "predict_during_fit": """
        trainee, server = model(3), model(4)
        expected = server.predict(x, batch_size=8, verbose=0)
        def serve():
            for _ in range(20):
                assert np.array_equal(server.predict(x, batch_size=8, verbose=0), expected)
        run_threads(lambda: trainee.fit(x, y, batch_size=8, epochs=3, verbose=0), serve)
        assert np.isfinite(trainee.predict(x[:4], verbose=0)).all()
    """,
}


@pytest.mark.parametrize("layer", [None, "workqueue"])   # minigrad's choice (OpenMP), workqueue
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_threads(scenario, layer):
    code = COMMON + textwrap.dedent(SCENARIOS[scenario]) + "\nprint('OK')\n"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer:
        env["NUMBA_THREADING_LAYER"] = layer
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{scenario}: hung (300 s)")
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), \
        f"{scenario}: exit code {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"

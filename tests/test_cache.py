"""A second run loads every kernel from Numba's cache instead of compiling it."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RUN = r"""
import json, numpy as np, minigrad as mg
from minigrad import layers
from minigrad.backends.cpu import kernels
mg.random.seed(0)
model = mg.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                       layers.MaxPooling2D(2), layers.Conv2D(4, 2), layers.Flatten(),
                       layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
x = np.random.default_rng(0).random((16, 8, 8, 1), dtype="float32")
model.fit(x, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
model.predict(x, verbose=0)
builds = {}  # each kernel's parallel build and its serial one (small inputs)
for name, d in vars(kernels).items():
    if hasattr(d, "serial_below"):
        builds.update({name: d, name + ".serial": d.serial})
stats = {name: [sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values())]
         for name, d in builds.items() if d.signatures}
print(json.dumps(stats))
"""


def _run(cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True,
                         timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_run_compiles_nothing(tmp_path):
    first = _run(tmp_path)
    assert len(first) >= 8, first                      # the step used many kernels
    # ... and compiled them (a cold cache): here, or on fit's forked copy, whose builds
    # this process then loaded (compile_ahead.py)
    assert sum(miss for _, miss in first.values()) > 0
    second = _run(tmp_path)
    assert second.keys() == first.keys()
    for name, (hits, misses) in second.items():
        assert misses == 0 and hits > 0, (name, hits, misses)

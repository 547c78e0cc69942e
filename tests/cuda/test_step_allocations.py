"""After the first training step, a step allocates no device memory.

On a GPU this counts the cuMemAlloc calls of minigrad's caching allocator
(minigrad/backends/cuda/memory.py), in a fresh process so that the allocator is
installed before any CUDA context exists. The simulator has no device memory,
so there a stand-in books every device array made to its size class and takes
it back when the array's memory is garbage (a NumPy view keeps its base alive,
as a numba-cuda view keeps its allocation): the same count of new buffers, for
the same training loop. The allocator itself is tested on numba-cuda's pointer
classes in tests/test_cuda_memory.py.
"""
import json
import os
import subprocess
import sys
import textwrap
import weakref

import numpy as np

from minigrad.backends import get_backend

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Trains with `mm` counting allocations (mm.driver_allocs, mm.reuses); prints
# [allocations after each step, reuses] as JSON. 16 training samples: four full
# batches of 4 an epoch; 4 for validation.
FIT = textwrap.dedent("""
    import json

    import numpy as np
    import minigrad as mg
    from minigrad import callbacks, layers

    mg.random.seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 6, 6, 1)).astype("f4"), rng.integers(0, 3, 20)
    model = mg.Sequential([layers.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)),
                           layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.3),
                           layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cuda")
    counts = []

    class Count(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            counts.append(mm.driver_allocs)

    model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2, verbose=0,
              callbacks=[Count()])
    print(json.dumps([counts, mm.reuses]))
""")


# On a GPU: loading the backend installs the caching allocator before the first CUDA
# context exists (a context keeps the manager it was made with); only then is the
# current context's manager the one to read.
GPU_PRELUDE = textwrap.dedent("""
    from minigrad.backends import get_backend
    from minigrad.backends.cuda import memory

    get_backend("cuda")
    mm = memory.manager()
    assert mm is not None, "the caching allocator is not the context's memory manager"
""")


class SizeClassBook:
    """The caching allocator's count, kept for the simulator's device arrays."""

    def __init__(self):
        self.driver_allocs = self.reuses = 0
        self.free = {}

    def book(self, array):
        base = array._ary
        while isinstance(base.base, np.ndarray):
            base = base.base
        size = -(-base.nbytes // 512) * 512
        if size:
            if self.free.get(size):
                self.free[size] -= 1
                self.reuses += 1
            else:
                self.driver_allocs += 1
            weakref.finalize(base, self._give_back, size)
        return array

    def _give_back(self, size):
        self.free[size] = self.free.get(size, 0) + 1


def fit_counting(monkeypatch) -> tuple:
    if not SIMULATOR:
        run = subprocess.run([sys.executable, "-c", GPU_PRELUDE + FIT],
                             capture_output=True, text=True, timeout=600, cwd=REPO)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout.strip().splitlines()[-1])
    cuda = get_backend("cuda").cuda
    book = SizeClassBook()
    for make in ("device_array", "to_device"):  # every device array the backend makes
        monkeypatch.setattr(cuda, make, lambda *a, _f=getattr(cuda, make), **k:
                            book.book(_f(*a, **k)))
    lines = []
    monkeypatch.setattr("builtins.print", lambda s: lines.append(s))
    exec(FIT, {"mm": book})
    return json.loads(lines[-1])


def test_training_steps_allocate_nothing_after_the_first(monkeypatch):
    counts, reuses = fit_counting(monkeypatch)
    assert len(counts) == 8 and counts[0] > 0 and reuses > 0
    # step one allocates; no step after it does, in this epoch or the next
    # (with the validation pass and a new shuffle order in between)
    assert counts == [counts[0]] * 8, counts

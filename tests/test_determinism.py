"""Determinism on the CPU: with `minigrad.random.seed(n)`, two runs of `fit` give
bit-identical losses and weights, whatever the Numba or OpenBLAS thread count.

Each configuration runs in its own subprocess (thread counts are fixed at
import), printing its per-epoch losses as exact float hex and a hash of its
final weights.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def train(seed=42):
    import minigrad as mg
    from minigrad import layers as L
    mg.random.seed(seed)
    rng = np.random.default_rng(7)
    # big enough that every kernel's parallel loop is split over threads; 8 filters:
    # no conv takes the direct kernels, used on one thread only (docs/reliability.md)
    x = rng.standard_normal((128, 12, 12, 2)).astype("f4")
    y = rng.integers(0, 4, 128)
    model = mg.Sequential([
        L.Conv2D(8, 3, padding="same", activation="relu", input_shape=(12, 12, 2)),
        L.MaxPooling2D(2), L.Conv2D(8, 3, strides=2, activation="relu"),
        L.Flatten(), L.Dropout(0.3), L.Dense(32, activation="relu"),
        L.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0)
    digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
    return {"loss": [float(v).hex() for v in h.history["loss"]],
            "val_loss": [float(v).hex() for v in h.history["val_loss"]],
            "weights": digest}


def run(numba_threads, blas_threads):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               NUMBA_NUM_THREADS=str(numba_threads), OPENBLAS_NUM_THREADS=str(blas_threads),
               OMP_NUM_THREADS=str(blas_threads))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["threads"] == [numba_threads, blas_threads]
    return result["run"]


def test_same_seed_same_process_is_identical():
    first = train()
    assert train() == first
    assert train(seed=43) != first   # and the seed matters (the check can fail)


def cpu_kernels():
    """Every CPU kernel (each has a parallel and a `.serial` build, kernels.py's _kernel)."""
    from minigrad.backends.cpu import kernels as K, layer_kernels as LK
    found = [k for mod in (K, LK) for k in vars(mod).values() if hasattr(k, "serial_below")]
    return found + list(K.FORWARD.values()) + list(K.BACKWARD.values())


def test_serial_and_parallel_kernel_builds_give_the_same_bits(monkeypatch):
    """Small inputs run the serial build of a kernel (backend.py's _launch); training
    with every kernel forced onto one build or the other gives the same bits."""
    kernels = cpu_kernels()
    assert len(kernels) > 30

    def train_with(serial_below):
        for k in kernels:
            monkeypatch.setattr(k, "serial_below", serial_below)
            monkeypatch.setattr(k, "min_threads", 1)  # the parallel build from one thread up
        return train()

    parallel = train_with(0)
    from minigrad.backends.cpu import kernels as K
    assert K.adam_update.signatures and K.maxpool_backward.signatures
    serial = train_with(1 << 62)
    assert K.adam_update.serial.signatures and K.maxpool_backward.serial.signatures
    assert serial == parallel


def test_identical_across_numba_thread_counts_blas_threads_only_round():
    runs = {cfg: run(*cfg) for cfg in [(1, 1), (2, 1), (1, 2), (2, 2)]}
    # the Numba kernels: bit-identical whatever the thread count
    assert runs[(2, 1)] == runs[(1, 1)], "Numba kernels depend on the thread count"
    assert runs[(2, 2)] == runs[(1, 2)], "Numba kernels depend on the thread count"
    # OpenBLAS's sgemm is bit-reproducible for a fixed thread count only; across
    # thread counts results may differ in the last bits (measured here: the
    # weights do), which is what docs/reliability.md promises -- no more
    one, two = runs[(1, 1)], runs[(1, 2)]
    for key in ("loss", "val_loss"):
        a = np.array([float.fromhex(v) for v in one[key]])
        b = np.array([float.fromhex(v) for v in two[key]])
        np.testing.assert_allclose(a, b, rtol=1e-4)


if __name__ == "__main__":
    import numba
    threads = [numba.config.NUMBA_NUM_THREADS, int(os.environ.get("OPENBLAS_NUM_THREADS", 0))]
    for kernel in cpu_kernels():  # the parallel builds: the ones a thread count could change
        kernel.serial_below, kernel.min_threads = 0, 1
    print(json.dumps({"threads": threads, "run": train()}))

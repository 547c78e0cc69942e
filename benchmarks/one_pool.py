"""One thread pool against two: minigrad's CPU backend as it is (its matrix products by
row blocks on Numba's threads, each block one single-threaded OpenBLAS call, and Numba's
OpenMP pool: backends/cpu/blas.py), as it was before (NumPy's matmul on OpenBLAS's own
threads beside Numba's workqueue pool, which is what runs where OpenMP cannot load).
MNIST convnet training steps, each way in fresh
processes, alternating; with --busy a process spinning on one core runs alongside (a
shared machine).

    python benchmarks/one_pool.py [--rounds 2] [--busy]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402

WAYS = {"one pool: split products, OpenMP (minigrad's default)": ("as-is", {}),
        "two pools: OpenBLAS's threads, workqueue (before)": (
            "two-pools", {"NUMBA_THREADING_LAYER": "workqueue"})}


def worker(way: str, steps: int) -> dict:
    import numpy as np
    mg = import_minigrad()
    # two-pools: NUMBA_THREADING_LAYER=workqueue, so NumPy's matmul on OpenBLAS's threads
    rng = np.random.default_rng(0)
    x, y = rng.random((128, 28, 28, 1), np.float32), rng.integers(0, 10, 128)
    model = minigrad_mnist_convnet(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for _ in range(5):
        model.train_on_batch(x, y)
    windows = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        windows.append((time.perf_counter() - t) / steps * 1e3)
    import numba
    return {"ms": sorted(windows)[1], "layer": numba.threading_layer()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="steps per timed window (3 windows)")
    ap.add_argument("--busy", action="store_true", help="a spinning process on one core alongside")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.steps)))
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.busy else None
    try:
        results = {name: [] for name in WAYS}
        for r in range(a.rounds):
            for name in (list(WAYS) if r % 2 == 0 else list(WAYS)[::-1]):
                way, env = WAYS[name]
                p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", way,
                                    "--steps", str(a.steps)], env=os.environ | env,
                                   capture_output=True, text=True)
                results[name].append(json.loads(p.stdout.splitlines()[-1]) if p.returncode == 0
                                     else {"ms": float("nan"), "layer": "failed: " + (
                                         p.stderr.strip().splitlines() or ["?"])[-1][:80]})
    finally:
        if hog:
            hog.kill()
    print(f"MNIST convnet training step, batch 128, {a.rounds} fresh processes per way, "
          f"alternating{', a spinning process alongside' if a.busy else ''}")
    print("| way | Numba layer | ms per step, each process (median of 3 windows) |")
    print("|---|---|---|")
    for name, rs in results.items():
        times = ", ".join(f"{r['ms']:.2f}" for r in rs)
        print(f"| {name} | {rs[0]['layer']} | {times} |")
    import numba
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()

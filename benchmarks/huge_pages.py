"""The MNIST convnet's train and predict speed in fresh processes, with the CPU buffer
pool's memory advised for transparent huge pages (buffers.USE_HUGE_PAGES, the default on
Linux) and from np.empty (malloc's pages), alternating process by process. Reports every
process's figures: the point is how many processes run slow, not only the median.

    python benchmarks/huge_pages.py [--processes 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line, peak_rss_mb  # noqa: E402
from cnn_workers import minigrad_mnist_convnet, scale  # noqa: E402

WAYS = {"huge pages": True, "np.empty": False}


def worker(huge: bool, steps: int, images: int) -> dict:
    import numpy as np
    mg = import_minigrad()
    from minigrad.backends.cpu import buffers
    buffers.USE_HUGE_PAGES = huge
    (x, y), (xt, _) = mg.datasets.mnist.load_data()
    n = 128 * (steps + 4)
    x, y, xp = scale(x[:n]), y[:n].astype(np.int64), scale(xt[:images])
    model = minigrad_mnist_convnet(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:512], y[:512], batch_size=128, epochs=1, verbose=0)
    t = time.perf_counter()
    model.fit(x[512:], y[512:], batch_size=128, epochs=1, verbose=0, shuffle=True)
    train = (n - 512) / (time.perf_counter() - t)
    model.predict(xp[:1000], batch_size=1000, verbose=0)
    predict = []
    for _ in range(3):
        t = time.perf_counter()
        model.predict(xp, batch_size=1000, verbose=0)
        predict.append(len(xp) / (time.perf_counter() - t))
    return {"train": train, "predict": sorted(predict)[1], "rss": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=8, help="fresh processes per way")
    ap.add_argument("--steps", type=int, default=40, help="timed training steps per process")
    ap.add_argument("--images", type=int, default=5000, help="images per predict call")
    ap.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(WAYS[a.worker], a.steps, a.images)))
        return
    runs = {way: [] for way in WAYS}
    for i in range(a.processes):
        for way in (list(WAYS) if i % 2 == 0 else list(WAYS)[::-1]):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", way,
                                  "--steps", str(a.steps), "--images", str(a.images)],
                                 capture_output=True, text=True, check=True).stdout
            runs[way].append(json.loads(out.splitlines()[-1]))
    print(f"MNIST convnet, batch 128: {a.processes} fresh processes per way, alternating; "
          f"train img/s over {a.steps} steps, predict img/s (median of 3 calls of "
          f"{a.images} images)")
    print("| buffer memory | train img/s, each process | predict img/s, each process "
          "| peak RSS MB (max) |")
    print("|---|---|---|---|")
    for way, rs in runs.items():
        train = ", ".join(f"{r['train']:,.0f}" for r in rs)
        predict = ", ".join(f"{r['predict']:,.0f}" for r in rs)
        print(f"| {way} | {train} | {predict} | {max(r['rss'] for r in rs):.0f} |")
    import numba
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()

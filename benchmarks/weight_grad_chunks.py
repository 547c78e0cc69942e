"""Inside training steps, a.T @ g (the convs' weight gradients) summed over fixed chunks of
its rows (blas.py's `inner_chunks`, one OpenBLAS call per chunk) against row blocks (one
call per thread over all the rows): step by step, alternating, one process. Also each
way's time for the models' weight-gradient shapes alone.

    python benchmarks/weight_grad_chunks.py [--model mnist_convnet|cifar_bn|convnet3]
        [--batch 128] [--steps 60]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import alternate, import_minigrad, machine_info, machine_line, timed  # noqa: E402
import cifar_bn_models  # noqa: E402
import convnet3_models  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402

MODELS = {"mnist_convnet": (minigrad_mnist_convnet, (28, 28, 1)),
          "cifar_bn": (cifar_bn_models.keras_api_model, cifar_bn_models.INPUT),
          "convnet3": (convnet3_models.keras_api_model, convnet3_models.INPUT)}


def each_way(run, ways: dict, steps: int, blas) -> dict:
    """{way: seconds per run()} with blas.MAX_INNER_CHUNKS set to each way's, in turn
    (_common.alternate, one untimed round first)."""
    saved = blas.MAX_INNER_CHUNKS

    def sampler(chunks):
        def sample() -> float:
            blas.MAX_INNER_CHUNKS = chunks
            return timed(run)
        return sample
    try:
        return alternate({way: sampler(chunks) for way, chunks in ways.items()}, steps)
    finally:
        blas.MAX_INNER_CHUNKS = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="cifar_bn")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=60, help="timed steps of each way")
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends import get_backend
    from minigrad.backends.cpu import blas
    ways = {"chunks": blas.MAX_INNER_CHUNKS, "row blocks": 1}
    build, shape = MODELS[args.model]
    rng = np.random.default_rng(0)
    x = rng.random((args.batch,) + tuple(shape), np.float32)
    y = rng.integers(0, 10, args.batch)
    model = build(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    shapes = []   # the weight gradients' (a, g) shapes of a step
    real = blas.product_tn

    def noting(launch, a, g):
        shapes.append((a.shape, g.shape))
        return real(launch, a, g)
    blas.product_tn = noting
    model.train_on_batch(x, y)
    blas.product_tn = real
    print(f"{args.model}, batch {args.batch}: a.T @ g in chunks or in row blocks, "
          f"alternating, {args.steps} of each; {numba.get_num_threads()} Numba threads")
    print("| product | chunks | chunks ms | row blocks ms | row blocks / chunks |")
    print("|---|---|---|---|---|")
    launch = get_backend("cpu")._launch
    for sa, sg in dict.fromkeys(shapes):   # a first step may also run dry (compile ahead)
        a, g = rng.random(sa, np.float32), rng.random(sg, np.float32)
        t = each_way(lambda: blas.product_tn(launch, a, g), ways, args.steps, blas)
        ch, rb = (statistics.median(t[w]) * 1e3 for w in ways)
        print(f"| {sa}.T @ {sg} | {blas.inner_chunks(sa[0])} | {ch:.2f} | {rb:.2f} | "
              f"{rb / ch:.3f} |")
    t = each_way(lambda: model.train_on_batch(x, y), ways, args.steps, blas)
    ch, rb = (statistics.median(t[w]) * 1e3 for w in ways)
    lo = {w: statistics.quantiles(t[w], n=4) for w in ways}
    print(f"| training step | - | {ch:.2f} ({lo['chunks'][0] * 1e3:.2f}-"
          f"{lo['chunks'][2] * 1e3:.2f}) | {rb:.2f} ({lo['row blocks'][0] * 1e3:.2f}-"
          f"{lo['row blocks'][2] * 1e3:.2f}) | {rb / ch:.3f} |")
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()

"""Inside a training step, each CPU kernel's parallel build against its serial one: step by
step, alternating, one process (one framework), every other kernel as backend.py's
`_launch` picks it. Where the serial build is as fast, kernels.py's MIN_THREADS has that
kernel run it (with fewer threads than MIN_THREADS), saving its parallel build's compile.

    python benchmarks/two_threads.py [--model mnist_convnet|cifar_bn] [--steps 200]
        [--kernels col2im,maxpool_conv_weight_grad | --all-but im2col,maxpool_forward]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402
import cifar_bn_models  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402

MODELS = {"mnist_convnet": (minigrad_mnist_convnet, (28, 28, 1)),
          "cifar_bn": (cifar_bn_models.keras_api_model, cifar_bn_models.INPUT)}


def step_times(model, x, y, kernels: list, steps: int) -> dict:
    """{'parallel' | 'serial': step seconds} with `kernels` forced onto one build or the
    other, alternating step by step (ABBA)."""
    saved = [(k.serial_below, k.min_threads) for k in kernels]

    def force(way):
        for k, (below, threads) in zip(kernels, saved):
            k.serial_below, k.min_threads = (0, 1) if way == "parallel" else (1 << 62, threads)

    times = {"parallel": [], "serial": []}
    try:
        for way in times:  # compile and warm both builds
            force(way)
            model.train_on_batch(x, y)
        for i in range(steps):
            for way in (("parallel", "serial") if i % 2 else ("serial", "parallel")):
                force(way)
                t = time.perf_counter()
                model.train_on_batch(x, y)
                times[way].append(time.perf_counter() - t)
    finally:
        for k, (below, threads) in zip(kernels, saved):
            k.serial_below, k.min_threads = below, threads
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="mnist_convnet")
    ap.add_argument("--steps", type=int, default=200, help="timed steps of each build")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--kernels", help="kernels to time one at a time (default: all the "
                       "step launches)")
    which.add_argument("--all-but", help="time every kernel but these at once")
    args = ap.parse_args()
    import numpy as np
    mg = import_minigrad()
    import numba
    from minigrad.backends.cpu import blas, kernels as K, layer_kernels as LK
    every = {name: k for mod in (K, LK) for name, k in vars(mod).items()
             if hasattr(k, "min_threads")}
    every.update({k.py_func.__name__: k for k in [*K.FORWARD.values(), *K.BACKWARD.values()]})
    build, shape = MODELS[args.model]
    rng = np.random.default_rng(0)
    x, y = rng.random((128,) + tuple(shape), np.float32), rng.integers(0, 10, 128)
    model = build(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    if args.all_but is not None:
        keep = set(args.all_but.split(","))
        groups = {f"all but {', '.join(sorted(keep))}":
                  [k for name, k in every.items() if name not in keep]}
    else:
        names = args.kernels.split(",") if args.kernels else \
            [name for name, k in every.items() if k.signatures or k.serial.signatures]
        groups = {name: [every[name]] for name in names}
    print(f"{args.model}, batch 128: training steps with the kernel(s) on the parallel or "
          f"the serial build, alternating, {args.steps} steps each; {numba.get_num_threads()} "
          f"Numba threads")
    print("| kernel | min_threads | parallel ms | serial ms | serial / parallel |")
    print("|---|---|---|---|---|")
    for label, kernels in groups.items():
        t = step_times(model, x, y, kernels, args.steps)
        par, ser = (statistics.median(t[w]) * 1e3 for w in ("parallel", "serial"))
        threads = "-" if len(kernels) > 1 else K.in_pool(kernels[0].min_threads, blas.in_use())
        print(f"| {label} | {threads} | {par:.2f} | {ser:.2f} | {ser / par:.3f} |")
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()

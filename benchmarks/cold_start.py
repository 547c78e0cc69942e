"""What the first training step of the MNIST convnet (or --model cifar_bn) compiles when
Numba's cache is empty: each CPU kernel build's compile seconds (Numba's own timer), in a
fresh process whose NUMBA_CACHE_DIR is a new empty folder (the package's own cache is not
touched).

    python benchmarks/cold_start.py [--model cifar_bn]

The first step compiles ahead on a forked copy of the process (backends/cpu/
compile_ahead.py; models/first_compile.py): the table lists what this process compiled,
and the builds the copy took (parallel builds, which it compiles after the first step).
With --warmup, as examples/mnist.py starts: `model.warmup()` then the first step, timed
together, in --rounds fresh processes with the forked copy and as many with this
process alone, alternating; --first-step: the same without warmup.

    python benchmarks/cold_start.py --warmup --rounds 3
    python benchmarks/cold_start.py --first-step --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_minigrad, machine_info, machine_line  # noqa: E402
import cifar_bn_models  # noqa: E402
from cnn_workers import minigrad_mnist_convnet  # noqa: E402

MODELS = {"mnist_convnet": ("MNIST convnet", minigrad_mnist_convnet, (28, 28, 1)),
          "cifar_bn": ("CIFAR-shaped BatchNormalization network", cifar_bn_models.keras_api_model,
                       cifar_bn_models.INPUT)}


def compiled_builds() -> dict[str, float]:
    """{kernel build: seconds Numba spent compiling it} for every CPU kernel build
    compiled in this process (parallel builds by name, serial ones as name.serial)."""
    from minigrad.backends.cpu import kernels, layer_kernels
    out = {}
    for module in (kernels, layer_kernels):
        for name, obj in vars(module).items():
            for label, build in ((name, obj), (f"{name}.serial", getattr(obj, "serial", None))):
                for sig in getattr(build, "signatures", ()) if hasattr(build, "py_func") else ():
                    timers = (build.get_metadata(sig) or {}).get("timers", {})  # None: loaded
                    out[label] = out.get(label, 0.0) + timers.get("compiler_lock", 0.0)
    return out


def worker(model_name: str, warmup: bool = False, ahead: bool = True) -> dict:
    import numpy as np
    t0 = time.perf_counter()
    mg = import_minigrad()
    import_s = time.perf_counter() - t0
    from minigrad.backends.cpu import compile_ahead
    if not ahead:
        compile_ahead.usable = lambda: False
    taken, compile_noted = [], compile_ahead.compile_noted
    compile_ahead.compile_noted = lambda noted: taken.append(compile_noted(noted)) or taken[-1]
    _, build, shape = MODELS[model_name]
    rng = np.random.default_rng(0)
    x, y = rng.random((128,) + tuple(shape), np.float32), rng.integers(0, 10, 128)
    t0 = time.perf_counter()
    model = build(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    warmup_s = model.warmup(verbose=0) if warmup else 0.0
    model.train_on_batch(x, y)
    return {"import_s": import_s, "first_step_s": time.perf_counter() - t0,
            "warmup_s": warmup_s, "compile_s": compiled_builds(), "copy_took": sum(taken)}


def cold_run(model: str, *flags: str) -> dict:
    """The worker's result, in a fresh process with an empty Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                              "--model", model, *flags], env=env,
                             capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def compare_copy(args) -> None:
    """(warmup +) first step, cold, with the forked copy and alone, alternating."""
    rows = []
    for _ in range(args.rounds):
        for way, flags in (("with the forked copy", ()), ("alone", ("--alone",))):
            r = cold_run(args.model, *(("--warmup",) if args.warmup else ()), *flags)
            rows.append((way, r["warmup_s"], r["first_step_s"] - r["warmup_s"],
                         r["first_step_s"], r["copy_took"]))
    what = "model.warmup() then the first step" if args.warmup else \
        "the first step (train_on_batch, compiling ahead itself), no warmup"
    print(f"{MODELS[args.model][0]}, batch 128, empty Numba cache: {what}, {args.rounds} "
          f"fresh processes each way, alternating")
    print("| compiles | warmup s | first step s | together s | builds the copy took |")
    print("|---|---|---|---|---|")
    for way, w, f, t, n in rows:
        print(f"| {way} | {w:.2f} | {f:.2f} | {t:.2f} | {n} |")
    for way in ("with the forked copy", "alone"):
        together = sorted(t for w_, _, _, t, _ in rows if w_ == way)
        print(f"{way}: median {together[len(together) // 2]:.2f} s "
              f"({together[0]:.2f}-{together[-1]:.2f})")
    import numba
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", choices=sorted(MODELS), default="mnist_convnet")
    ap.add_argument("--warmup", action="store_true",
                    help="model.warmup() before the first step, with and without the forked copy")
    ap.add_argument("--first-step", action="store_true",
                    help="the first step without warmup, with and without the forked copy")
    ap.add_argument("--rounds", type=int, default=3,
                    help="with --warmup or --first-step: processes per way")
    ap.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.model, args.warmup, not args.alone)))
        return
    if args.warmup or args.first_step:
        return compare_copy(args)
    r = cold_run(args.model)
    builds = sorted(r["compile_s"].items(), key=lambda kv: -kv[1])
    print(f"{MODELS[args.model][0]}, batch 128, empty Numba cache: import "
          f"{r['import_s']:.2f} s, first step {r['first_step_s']:.2f} s, of which compiling "
          f"{sum(s for _, s in builds):.2f} s in {len(builds)} kernel builds (0.00: loaded, "
          f"the copy's); the forked copy took {r['copy_took']} builds")
    print("| kernel build | compile s |")
    print("|---|---|")
    for name, s in builds:
        print(f"| {name} | {s:.2f} |")
    import numba
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()

"""What the first training step of the MNIST convnet (or --model cifar_bn) compiles when
Numba's cache is empty: each CPU kernel build's compile seconds (Numba's own timer), in a
fresh process whose NUMBA_CACHE_DIR is a new empty folder (the package's own cache is not
touched).

    python benchmarks/cold_start.py [--model cifar_bn]
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
                    timers = build.get_metadata(sig).get("timers", {})
                    out[label] = out.get(label, 0.0) + timers.get("compiler_lock", 0.0)
    return out


def worker(model_name: str) -> dict:
    import numpy as np
    t0 = time.perf_counter()
    mg = import_minigrad()
    import_s = time.perf_counter() - t0
    _, build, shape = MODELS[model_name]
    rng = np.random.default_rng(0)
    x, y = rng.random((128,) + tuple(shape), np.float32), rng.integers(0, 10, 128)
    t0 = time.perf_counter()
    model = build(mg)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.train_on_batch(x, y)
    return {"import_s": import_s, "first_step_s": time.perf_counter() - t0,
            "compile_s": compiled_builds()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", choices=sorted(MODELS), default="mnist_convnet")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.model)))
        return
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                              "--model", args.model], env=env,
                             capture_output=True, text=True, check=True).stdout
    r = json.loads(out.splitlines()[-1])
    builds = sorted(r["compile_s"].items(), key=lambda kv: -kv[1])
    print(f"{MODELS[args.model][0]}, batch 128, empty Numba cache: import "
          f"{r['import_s']:.2f} s, first step {r['first_step_s']:.2f} s, of which compiling "
          f"{sum(s for _, s in builds):.2f} s in {len(builds)} kernel builds")
    print("| kernel build | compile s |")
    print("|---|---|")
    for name, s in builds:
        print(f"| {name} | {s:.2f} |")
    import numba
    print(machine_line(machine_info(numba.get_num_threads())).replace("per worker", ""))


if __name__ == "__main__":
    main()

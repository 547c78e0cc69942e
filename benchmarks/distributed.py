"""Data-parallel training on MPI processes: images/s of the Keras MNIST convnet for
1, 2, ... processes on this machine, each with cores ÷ processes threads (so the total
is the cores), the scaling efficiency, and what the gradient Allreduce costs per step.

    python benchmarks/distributed.py                    # 1 and 2 processes
    python benchmarks/distributed.py --ranks 1 2 4 --steps 60 --json dist.json
    python benchmarks/distributed.py --local            # forked processes, no MPI

Each configuration is one `mpiexec -n N python benchmarks/distributed.py --worker`
job (the MPICH wheel's mpiexec beside this Python: `pip install "minigrad[mpi]"`), or
with --local one `python benchmarks/distributed.py --worker` that forks N - 1 more
(`initialize(num_processes=N)`: collectives over socket pairs, no MPI):
it trains one epoch untimed (kernels, caches), then times `--steps` steps of the
global batch (`--batch-size`, split across the processes) with fit, and times
`--allreduce-reps` Allreduces of the step's flat buffer alone. The report ends with
the paper estimate for N machines: a ring Allreduce moves 2 (N - 1) / N times the
buffer through each machine's link, so at a bandwidth of W bit/s a step waits
2 (N - 1) / N * bytes * 8 / W plus the network's latency per hop.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import _common as C

ALLREDUCE_REPS = 200


def worker(args) -> None:
    mg = C.import_minigrad()
    import numpy as np
    from minigrad.distribution import FlatBuffer, threads

    mg.distribution.initialize(num_processes=args.processes if args.local else None)
    dp = mg.distribution.DataParallel()
    mg.distribution.set_distribution(dp)
    n, rank = mg.distribution.num_processes(), mg.distribution.process_id()
    used = threads.set_threads(args.threads)
    mg.random.seed(0)
    sys.path.insert(0, os.path.join(C.REPO, "examples"))
    from mnist import build_model
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.warmup(verbose=0)
    samples = args.steps * args.batch_size
    rng = np.random.default_rng(0)
    x = rng.random((samples, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    model.fit(x[:args.batch_size * 5], y[:args.batch_size * 5], batch_size=args.batch_size,
              epochs=1, verbose=0)   # untimed: first-step allocations, the Allreduce set up
    before = dict(dp.stats)
    dp.group.barrier()
    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    steps = dp.stats["steps"] - before["steps"]
    in_fit = (dp.stats["allreduce_seconds"] - before["allreduce_seconds"]) / max(steps, 1)
    # the Allreduce alone, on a buffer of the step's size (no waiting for a slower rank)
    buf = FlatBuffer(model.trainable_weights, extra=8)
    dp.group.barrier()
    t0 = time.perf_counter()
    for _ in range(args.allreduce_reps):
        buf.allreduce(dp.group)
    alone = (time.perf_counter() - t0) / args.allreduce_reps
    if rank == 0:
        C.emit({"processes": n, "threads_per_process": used, "seconds": seconds,
                "images_per_s": samples / seconds, "steps": args.steps,
                "step_s": seconds / args.steps,
                "allreduce_bytes": buf.nbytes if n > 1 else 0,
                "allreduce_in_fit_s": in_fit if n > 1 else 0.0,
                "allreduce_alone_s": alone if n > 1 else 0.0,
                "blas": C.blas_info()})


def mpiexec() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if not found:
        raise SystemExit('distributed.py needs mpiexec: pip install "minigrad[mpi]"')
    return found


def paper_estimate(nbytes: int, step_s: float, latency_s: float) -> list[list]:
    """Rows per machine count N: the Allreduce's time at 10 and 100 Gbit/s (ring:
    2 (N - 1) / N * bytes through each link, plus 2 (N - 1) latencies) and the
    efficiency with each machine computing the 1-process step (global batch x N)."""
    rows = []
    for machines in (2, 4, 8, 16, 64):
        row = [machines]
        for gbit in (10, 100):
            t = 2 * (machines - 1) / machines * nbytes * 8 / (gbit * 1e9) + \
                2 * (machines - 1) * latency_s
            row += [f"{t * 1e3:.2f} ms", f"{step_s / (step_s + t):.1%}"]
        rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=40, help="timed steps of the global batch")
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    p.add_argument("--cores", type=int, default=len(C.available_cpus()),
                   help="threads in total, split evenly among the processes")
    p.add_argument("--allreduce-reps", type=int, default=ALLREDUCE_REPS)
    p.add_argument("--latency-us", type=float, default=25.0,
                   help="per-hop network latency assumed in the paper estimate")
    p.add_argument("--local", action="store_true",
                   help="processes forked by initialize(num_processes=N), not mpiexec")
    p.add_argument("--json", default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    info = C.machine_info(args.cores)
    print(C.machine_line(info).replace("threads per worker", "threads in total"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [C.REPO] + [v for v in [os.environ.get("PYTHONPATH")] if v]))
    results = []
    for n in args.ranks:
        per = max(1, args.cores // n)
        launch = [sys.executable] if args.local else [mpiexec(), "-n", str(n), sys.executable]
        cmd = launch + [os.path.abspath(__file__), "--worker", "--processes", str(n),
                        "--threads", str(per), "--steps", str(args.steps),
                        "--batch-size", str(args.batch_size),
                        "--allreduce-reps", str(args.allreduce_reps)]
        cmd += ["--local"] if args.local else []
        out = C.run_worker(cmd, env | {"NUMBA_NUM_THREADS": str(per)}, timeout=900)
        if "error" in out:
            print(f"{n} processes: {out['error']}", file=sys.stderr)
            continue
        results.append(out)
    if not results:
        raise SystemExit("no configuration ran")
    base = next((r["images_per_s"] for r in results if r["processes"] == 1), None)
    rows = []
    for r in results:
        eff = None if base is None else r["images_per_s"] / base
        rows.append([r["processes"], r["threads_per_process"], f"{r['images_per_s']:.0f}",
                     "-" if eff is None else f"{eff:.0%}", f"{r['step_s'] * 1e3:.1f} ms",
                     f"{r['allreduce_bytes'] / 1e3:.1f} kB" if r["allreduce_bytes"] else "-",
                     f"{r['allreduce_alone_s'] * 1e6:.0f} us" if r["processes"] > 1 else "-",
                     f"{r['allreduce_in_fit_s'] * 1e3:.2f} ms" if r["processes"] > 1
                     else "-"])
    print(f"global batch {args.batch_size}, {args.steps} timed steps, the Keras MNIST "
          f"convnet, threads in total = {args.cores}, processes "
          f"{'forked by initialize (no MPI)' if args.local else 'started by mpiexec'}")
    print(C.format_table(["processes", "threads each", "images/s", "vs 1 process",
                          "step", "Allreduce", "Allreduce alone", "in fit, waits incl."],
                         rows))
    nbytes = max(r["allreduce_bytes"] for r in results)
    one = next((r for r in results if r["processes"] == 1), results[0])
    if nbytes:
        print(f"\npaper estimate, N machines each computing a batch of {args.batch_size} "
              f"({one['step_s'] * 1e3:.1f} ms here), {nbytes / 1e3:.1f} kB per Allreduce, "
              f"{args.latency_us:g} us latency per hop:")
        print(C.format_table(["machines", "10 Gbit/s", "efficiency", "100 Gbit/s",
                              "efficiency"],
                             paper_estimate(nbytes, one["step_s"], args.latency_us * 1e-6)))
    C.write_json(args.json, {"machine": info, "args": vars(args), "results": results})


if __name__ == "__main__":
    main()

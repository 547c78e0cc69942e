"""Shared helpers for the benchmark scripts: worker processes and their environment, machine
and BLAS info, statistics over process pairs, tables, JSON.

Only the standard library at import (NumPy and the frameworks inside functions), so that a
worker can run under another Python, e.g. a virtualenv that holds Keras and JAX.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_MARK = "BENCH-RESULT "  # a worker's result line; frameworks print other lines too

# Set on some machines to work around old OpenBLAS bugs; they slow a current NumPy, so the
# workers run without them unless --keep-openblas-env (each worker reports its BLAS kernel).
OPENBLAS_WORKAROUND_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Every worker gets the same thread count through each library's own knob.
# (NUM_CPU_THREADS: tinygrad's; JAX has no such knob: see run_worker's pinning)
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "NUM_CPU_THREADS")
# Pointed at an empty folder for the cold-cache run.
CACHE_VARS = ("NUMBA_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR",
              "CACHEDB")  # the last: tinygrad's cache file
# Haswell's features: NUMBA_CPU_NAME alone keeps the host's feature list (AVX-512 included).
HASWELL_FEATURES = ",".join("+" + f for f in (
    "64bit aes avx avx2 bmi bmi2 cmov crc32 cx16 cx8 f16c fma fsgsbase fxsr invpcid lzcnt "
    "mmx movbe pclmul popcnt rdrnd sahf sse sse2 sse3 sse4.1 sse4.2 ssse3 xsave xsaveopt"
).split())
# --isa avx2: an AVX2-only machine, forced alike for every framework.
ISA_ENV = {"avx2": {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": HASWELL_FEATURES,
                    "OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2",
                    "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}
ISA_XLA_FLAGS = {"avx2": "--xla_cpu_max_isa=AVX2"}


# ------------------------------------------------------------------ worker side
def import_minigrad():
    """minigrad: the installed one, else this checkout's."""
    try:
        import minigrad
    except ImportError:
        sys.path.insert(0, REPO)
        import minigrad
    return minigrad


def import_torch(threads: int):
    """torch with `threads` intra-op threads, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        print("torch is not installed: reporting minigrad only", file=sys.stderr)
        return None
    torch.set_num_threads(threads)
    return torch


def gpu_name(torch=None) -> str:
    """The GPU the worker runs on: torch's view with `torch`, else Numba's."""
    if torch is not None:
        return torch.cuda.get_device_name()
    from numba import cuda
    name = getattr(cuda.get_current_device(), "name", "Numba's CUDA simulator")
    return name.decode() if isinstance(name, bytes) else str(name)


def emit(result: dict) -> None:
    """A worker's result: one marked JSON line on stdout."""
    print(RESULT_MARK + json.dumps(result), flush=True)


def blas_info() -> list[dict]:
    """The BLAS libraries loaded in this process and the kernel each runs: threadpoolctl's
    view where it is installed, else the core name of NumPy's bundled OpenBLAS."""
    try:
        from threadpoolctl import threadpool_info
        return [{k: d.get(k) for k in ("internal_api", "version", "architecture",
                                       "num_threads", "threading_layer")}
                | {"library": os.path.basename(d.get("filepath", ""))}
                for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        pass
    import ctypes
    import glob
    import numpy as np
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                  "libscipy_openblas*"))
    out = []
    for path in libs:
        lib = ctypes.CDLL(path)  # already loaded by NumPy: the same handle
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                     "openblas_get_corename"):
            if hasattr(lib, name):
                fn = getattr(lib, name)
                fn.restype = ctypes.c_char_p
                out.append({"internal_api": "openblas", "architecture": fn().decode(),
                            "library": os.path.basename(path)})
                break
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB. VmHWM where Linux has it: getrusage's
    ru_maxrss survives exec, so a fresh subprocess would report its parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS


def timed(fn, *args) -> float:
    """Seconds taken by fn(*args)."""
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def alternate(samplers: dict, reps: int, warmup: int = 1, min_time: float = 0.0,
              max_reps: int = 1000) -> dict:
    """Round-robin timing inside one worker. `samplers` maps a name to a function returning
    the seconds one sample took. `warmup` untimed rounds, then at least `reps` rounds, more
    (up to max_reps) while some sampler's total is under `min_time`. Returns name -> list."""
    for _ in range(warmup):
        for f in samplers.values():
            f()
    times = {name: [] for name in samplers}
    while True:
        n = len(next(iter(times.values())))
        if n >= max_reps or (n >= reps and min(map(sum, times.values())) >= min_time):
            return times
        for name, f in samplers.items():
            times[name].append(f())


def batch_gradients(mg, model, x, y) -> list:
    """Copies of every trainable weight's gradient of one batch's mean sparse
    categorical crossentropy (the ways a benchmark alternates are compared on them)."""
    for w in model.trainable_weights:
        w.grad = None
    out = model(mg.Tensor(x), training=True)
    mg.losses.sparse_categorical_crossentropy(mg.Tensor(y), out).mean().backward()
    return [w.grad.numpy().copy() for w in model.trainable_weights]


def step_table(first_column: str, times: dict, threads: int,
               median_header: str = "median ms per step") -> str:
    """The in-process benchmarks' table: per way, the median and 25th-75th percentile
    of its seconds in ms, then the machine line."""
    import numpy as np
    lines = [f"| {first_column} | {median_header} | 25th-75th percentile ms |", "|---|---|---|"]
    for way, ts in times.items():
        q1, med, q3 = (np.percentile(ts, q) * 1e3 for q in (25, 50, 75))
        lines.append(f"| {way} | {med:.2f} | {q1:.2f}-{q3:.2f} |")
    return "\n".join(lines + [machine_line(machine_info(threads)).replace("per worker", "")])


# ------------------------------------------------------------------ parent side
def add_common_args(p, frameworks) -> None:
    """The options train_cnn.py and ops.py share: the workers' environment, device, JSON."""
    p.add_argument("--isa", choices=["native", "avx2"], default="native",
                   help="avx2: every framework limited to AVX2 through its own switches")
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="threads for every worker (default: NUMBA_NUM_THREADS or all CPUs)")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the workers' environment")
    p.add_argument("--timeout", type=float, default=900, help="seconds per worker process")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="minigrad's device, and torch's where torch runs")
    p.add_argument("--json", help="write everything, raw samples included, to this file")
    p.add_argument("--worker", choices=frameworks,
                   help="run one sample in this process and print its JSON (the parent's job)")


def available_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def default_threads() -> int:
    return int(os.environ.get("NUMBA_NUM_THREADS", len(available_cpus())))


def worker_env(threads: int, isa: str | None = None, keep_openblas_env: bool = False,
               base: dict | None = None) -> tuple[dict, dict]:
    """(the environment every worker gets, what was changed, for the report)."""
    env = dict(os.environ if base is None else base)
    notes: dict = {"threads": threads, "isa": isa or "native"}
    if not keep_openblas_env:
        notes["openblas_env_removed"] = {k: env.pop(k) for k in OPENBLAS_WORKAROUND_VARS
                                         if k in env}
    for k in THREAD_VARS:
        env[k] = str(threads)
    if isa:
        env.update(ISA_ENV[isa])
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + ISA_XLA_FLAGS[isa]).strip()
    notes["env_set"] = {k: env[k] for k in (*THREAD_VARS, *ISA_ENV.get(isa or "", {}))}
    return env, notes


def cold_env(env: dict, folder: str) -> dict:
    """`env` with every compile cache pointed at the empty `folder`."""
    return env | {k: os.path.join(folder, k.lower()) for k in CACHE_VARS}


def run_worker(cmd: list[str], env: dict, timeout: float, threads: int | None = None) -> dict:
    """Run one worker process; its result dict, or {"error": ...}. With `threads` fewer than
    this machine's CPUs, the worker is pinned to that many (for libraries with no thread knob)."""
    cpus = available_cpus()
    pin = None
    if threads is not None and threads < len(cpus):
        pin = lambda: os.sched_setaffinity(0, cpus[:threads])  # noqa: E731
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=pin)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    except OSError as e:  # e.g. a --python-for interpreter that does not exist
        return {"error": f"could not start {cmd[0]}: {e}"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if p.returncode or not lines:
        tail = (p.stderr or p.stdout).strip()[-1500:]
        return {"error": f"exit code {p.returncode}: {tail}"}
    out = json.loads(lines[-1][len(RESULT_MARK):])
    out["process_s"] = time.perf_counter() - t0
    return out


def abba(names: list[str], rnd: int) -> list[str]:
    """Round `rnd`'s order: as given in even rounds, reversed in odd ones (A B, B A, ...), so
    no framework always runs right after the same one."""
    return list(names) if rnd % 2 == 0 else list(reversed(names))


def median(xs) -> float:
    return float(statistics.median(xs))


def spread(xs) -> dict | None:
    """Median, min, max and count of `xs` (None entries dropped); None when empty."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def pair_ratios(rounds: list[dict], a: str, b: str, key) -> list[float]:
    """Per round, `a`'s value over `b`'s; `key(sample)` reads a value. Rounds where either
    failed, was not installed or lacks the value are skipped."""
    out = []
    for r in rounds:
        va, vb = (None if r.get(n) is None or "error" in r[n] or "not_installed" in r[n]
                  else key(r[n]) for n in (a, b))
        if va is not None and vb:
            out.append(va / vb)
    return out


def fmt(x) -> str:
    """A table cell: n/a for None, 3 significant digits without exponents for floats, a
    spread as 'median (min-max)'."""
    if x is None:
        return "n/a"
    if isinstance(x, dict):
        if x["n"] == 1:
            return fmt(x["median"])
        return f"{x['median']:.2f} ({x['min']:.2f}-{x['max']:.2f})"
    if isinstance(x, float):
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return str(x)


def format_table(headers: list[str], rows: list[list]) -> str:
    """A plain-text table, the first column left-aligned, the others right-aligned."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    join = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([join(headers), rule, *map(join, cells), rule])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa() -> str:
    """The widest x86 vector extension /proc/cpuinfo lists."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return "unknown"
    return next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"),
                                         ("avx", "AVX")) if flag in flags), "no AVX")


def machine_info(threads: int) -> dict:
    return {"cpu": cpu_model(), "cpu_isa": cpu_isa(), "cores": os.cpu_count(),
            "cpus_available": len(available_cpus()), "threads": threads,
            "platform": platform.platform(), "parent_python": platform.python_version(),
            "loadavg_start": os.getloadavg()}


def machine_line(info: dict) -> str:
    line = (f"machine: {info['cpu']} ({info['cpu_isa']}), {info['cores']} cores, "
            f"{info['threads']} threads per worker")
    load = info.get("loadavg_start")
    if load and load[0] > 0.5:
        line += (f"\nNOTE: 1-minute load average {load[0]:.1f} when the run started: if other "
                 "processes shared the cores, these figures are not results")
    return line


def footer_lines(first: dict, notes: dict) -> list[str]:
    """The report's last lines: each framework's versions and BLAS (from its first good
    worker), what --isa set, and the OpenBLAS variables removed from the workers' env."""
    lines = [versions_line(fw, sample) for fw, sample in first.items()]
    isa = notes["isa"]
    if isa != "native":
        env = {k: ("Haswell's" if k == "NUMBA_CPU_FEATURES" else v)
               for k, v in notes["env_set"].items() if k not in THREAD_VARS}
        lines.append(f"--isa {isa}: the workers ran with " + ", ".join(
            f"{k}={v}" for k, v in env.items()) + f", XLA_FLAGS+={ISA_XLA_FLAGS[isa]}")
    if notes.get("openblas_env_removed"):
        lines.append("removed from the workers' environment: " + ", ".join(
            f"{k}={v}" for k, v in notes["openblas_env_removed"].items()))
    return lines


def versions_line(name: str, sample: dict) -> str:
    """'name: python X, lib version, ...; BLAS: library kernel, ...' from a worker's result."""
    vers = ", ".join(f"{k} {v}" for k, v in sample.get("versions", {}).items()
                     if not k.endswith(("_path", "_devices")))
    blas = ", ".join(f"{b.get('library', '?').split('-')[0]} {b.get('architecture')}"
                     for b in sample.get("blas", [])) or "none loaded"
    return f"{name}: python {sample.get('python')}, {vers}; BLAS: {blas}"


def write_json(path: str | None, payload: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"wrote {path}")

"""Shared helpers for the benchmark scripts: imports, machine info, timing, tables, JSON."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # `python benchmarks/x.py` from a clean checkout: use the repo's minigrad
    import minigrad  # noqa: F401
except ImportError:
    sys.path.insert(0, REPO)
    import minigrad  # noqa: F401

import numba  # noqa: E402
import numpy as np  # noqa: E402


def import_torch(threads: int):
    """torch with `threads` intra-op threads, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        print("torch is not installed: reporting minigrad only", file=sys.stderr)
        return None
    torch.set_num_threads(threads)
    return torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> str | None:
    """The GPU minigrad's CUDA backend runs on (None on the CPU)."""
    from numba import cuda
    name = getattr(cuda.get_current_device(), "name", "Numba's CUDA simulator")
    return name.decode() if isinstance(name, bytes) else str(name)


def machine_info(torch=None, device: str = "cpu") -> dict:
    return {"gpu": gpu_name() if device == "cuda" else None,
            "cpu": cpu_model(), "cores": os.cpu_count(), "threads": numba.get_num_threads(),
            "python": platform.python_version(), "numba": numba.__version__,
            "numpy": np.__version__, "minigrad": minigrad.__version__,
            "minigrad_path": os.path.dirname(minigrad.__file__),
            "torch": torch.__version__ if torch is not None else None}


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


def median(xs) -> float:
    return float(statistics.median(xs))


def timed(fn, *args) -> float:
    """Seconds taken by fn(*args)."""
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def alternate(samplers: dict, reps: int, warmup: int = 1, min_time: float = 0.0,
              max_reps: int = 1000, report=None) -> dict:
    """Round-robin timing. `samplers` maps a name to a function returning the seconds
    one sample took. Each round takes one sample of every sampler, so machine noise
    that drifts over time hits all of them alike. `warmup` untimed rounds, then at
    least `reps` rounds, more (up to max_reps) while some sampler's total time is
    under `min_time`, so microsecond ops still get many samples. Returns name -> list."""
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
        if report:
            report(times)


def fmt(x) -> str:
    """A table cell: n/a for None, 3 significant digits without exponents for floats."""
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return str(x)


def print_table(title: str, headers: list[str], rows: list[list], info: dict) -> None:
    """A plain-text table (first column left-aligned), then the machine line."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    join = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    rule = "  ".join("-" * w for w in widths)
    print(f"\n{title}", join(headers), rule, *map(join, cells), rule, sep="\n")
    print(("machine: " + ("GPU {gpu}, " if info.get("gpu") else "") +
           "{cpu}, {cores} cores, {threads} threads | python {python}, numba {numba}, "
           "numpy {numpy}, minigrad {minigrad}, torch {torch}").format(**info))


def write_json(path: str | None, payload: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"wrote {path}")

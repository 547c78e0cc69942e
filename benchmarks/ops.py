"""Per-op forward/backward time and GFLOP/s for the MNIST convnet's layers (and a few more),
against the machine's sgemm rate; minigrad, torch and the sgemm reference each in their own
fresh processes, alternating process by process.

    python benchmarks/ops.py                        # minigrad and the sgemm reference
    python benchmarks/ops.py --vs torch --json ops.json
    python benchmarks/ops.py --device cuda --vs torch   # on a GPU (each sample synchronises)

In a worker, each op's forward runs with autograd recording (as in training) and its
backward is timed alone on a fresh untimed forward; the two alternate, and the worker keeps
each one's median. The parent runs --pairs rounds of one process per framework (ABBA order)
and reports medians over the rounds and, per op, minigrad's speed over torch's in the same
round: median (min-max).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import _common as C

# name, op, input shape without batch (NHWC), params; input_grad=False where the real
# model needs no gradient for the input (the first conv reads the data)
CASES = [
    ("conv 28x28x1->26x26x32 3x3", "conv", (28, 28, 1), dict(k=3, f=32), False),
    ("conv 13x13x32->11x11x64 3x3", "conv", (13, 13, 32), dict(k=3, f=64), True),
    # an RGB image's first conv (cifar_bn's, without its BatchNormalization)
    ("conv 32x32x3->32x32x32 3x3 same", "conv", (32, 32, 3), dict(k=3, f=32, padding="same"),
     False),
    # the model's first layer as minigrad runs it: Conv2D(relu) + MaxPooling2D fused
    ("conv+relu+maxpool 28x28x1->13x13x32 3x3", "conv_pool", (28, 28, 1), dict(k=3, f=32),
     False),
    ("maxpool 26x26x32 /2", "pool", (26, 26, 32), {}, True),
    ("maxpool 11x11x64 /2", "pool", (11, 11, 64), {}, True),
    ("dense 1600->10", "dense", (1600,), dict(units=10), True),
    ("conv 14x14x32->14x14x64 5x5 same", "conv", (14, 14, 32), dict(k=5, f=64, padding="same"),
     True),
    ("conv 28x28x32->14x14x64 3x3 s2 same", "conv", (28, 28, 32),
     dict(k=3, f=64, stride=2, padding="same"), True),
    # issue 14's layers: a depthwise conv (direct kernel; torch: groups=C) and batch norm
    # with batch statistics (training), at CIFAR-10 network sizes
    ("depthwise 16x16x64 3x3 same", "depthwise", (16, 16, 64), dict(k=3, padding="same"), True),
    ("batchnorm train 16x16x64", "batchnorm", (16, 16, 64), {}, True),
    # the cifar_bn network's head: GlobalAveragePooling2D, a mean over 8x8
    ("global average pool 8x8x128", "global_avg", (8, 8, 128), {}, True),
    # issue 14's Conv1D (im2col GEMM over steps) and Conv2DTranspose (the conv's input
    # gradient), at sizes of a small sequence model and decoder
    ("conv1d 128 steps x64->x64 k5", "conv1d", (128, 64), dict(k=5, f=64), True),
    ("conv transpose 8x8x64->17x17x32 3x3 s2", "conv_transpose", (8, 8, 64),
     dict(k=3, f=32, stride=2), True),
    # the second conv's im2col GEMM at batch 128 (whatever --batch): minigrad's backend
    # matmul, torch.mm; its shape is the whole input's
    ("matmul 15488x288x64 (conv2 im2col)", "matmul", (15488, 288), dict(n=64), False),
]
FRAMEWORKS = ("minigrad", "torch", "sgemm")


def flops(op, x_shape, p, out_shape):
    """Forward FLOPs from the input and (NHWC) output shapes: 2*N*OH*OW*KH*KW*C*F for a
    conv, 2*M*K*N for a product; None for a pool."""
    if op == "conv":
        n, oh, ow, f = out_shape
        return 2 * n * oh * ow * p["k"] ** 2 * x_shape[-1] * f
    if op == "depthwise":
        n, oh, ow, f = out_shape
        return 2 * n * oh * ow * p["k"] ** 2 * f
    if op == "conv_pool":  # the conv's FLOPs (valid, stride 1); the pool's are not counted
        n, h, w, c = x_shape
        return 2 * n * (h - p["k"] + 1) * (w - p["k"] + 1) * p["k"] ** 2 * c * p["f"]
    if op == "conv1d":
        n, ol, f = out_shape
        return 2 * n * ol * p["k"] * x_shape[-1] * f
    if op == "conv_transpose":   # every input pixel meets every kernel tap
        n, h, w, c = x_shape
        return 2 * n * h * w * p["k"] ** 2 * c * out_shape[-1]
    if op in ("dense", "matmul"):
        return 2 * x_shape[0] * x_shape[1] * out_shape[1]
    return None


def make_case(op, x_np, p, input_grad, device, mg=None, torch=None):
    """(forward fn, params needing grads, output shape as NHWC) of the op in minigrad (`mg`)
    or torch (NCHW, weights permuted from minigrad's layout), on `device`."""
    rng = np.random.default_rng(0)
    c = x_np.shape[-1]
    w_np = b_np = None
    if op in ("conv", "conv_pool"):
        w_np = (rng.standard_normal((p["k"], p["k"], c, p["f"])) * 0.1).astype(np.float32)
        b_np = np.zeros(p["f"], np.float32)
    elif op == "depthwise":
        w_np = (rng.standard_normal((p["k"], p["k"], c, 1)) * 0.1).astype(np.float32)
        b_np = np.zeros(c, np.float32)
    elif op == "conv1d":
        w_np = (rng.standard_normal((p["k"], c, p["f"])) * 0.1).astype(np.float32)
        b_np = np.zeros(p["f"], np.float32)
    elif op == "conv_transpose":   # Keras's layout (k, k, filters, C)
        w_np = (rng.standard_normal((p["k"], p["k"], p["f"], c)) * 0.1).astype(np.float32)
        b_np = np.zeros(p["f"], np.float32)
    elif op == "batchnorm":
        w_np, b_np = np.ones(c, np.float32), np.zeros(c, np.float32)   # gamma, beta
    elif op == "dense":
        w_np = (rng.standard_normal((c, p["units"])) * 0.03).astype(np.float32)
        b_np = np.zeros(p["units"], np.float32)
    elif op == "matmul":
        w_np = rng.random((c, p["n"]), dtype=np.float32)
    if torch is None:
        if op == "matmul":  # the backend's raw product, no autograd
            backend = mg.backends.get_backend(device)
            da, db = backend.asarray(x_np), backend.asarray(w_np)
            return (lambda: backend.matmul(da, db)), [], (len(x_np), p["n"])
        x = mg.Tensor(x_np, requires_grad=input_grad, device=device)
        w, b = (None, None) if w_np is None else (
            mg.Tensor(w_np, requires_grad=True, device=device),
            mg.Tensor(b_np, requires_grad=True, device=device))
        fwd = {"conv": lambda: mg.ops.conv2d(x, w, b, stride=p.get("stride", 1),
                                             padding=p.get("padding", "valid")),
               "conv_pool": lambda: mg.ops.conv2d_maxpool(x, w, b, activation="relu"),
               "depthwise": lambda: mg.ops.depthwise_conv2d(
                   x, w, b, padding=p.get("padding", "valid")),
               "batchnorm": lambda: mg.ops.normalization.batch_normalization_training(
                   x, w, b)[0],
               "conv1d": lambda: mg.ops.conv1d.conv1d(x, w, b),
               "conv_transpose": lambda: mg.ops.conv2d_transpose(
                   x, w, b, strides=p.get("stride", 1)),
               "pool": lambda: mg.ops.max_pool2d(x, 2),
               "global_avg": lambda: mg.layers.GlobalAveragePooling2D()(x),
               "dense": lambda: mg.ops.dense(x, w, b)}[op]
    else:
        F = torch.nn.functional
        t = lambda a, *perm: torch.tensor(a.transpose(*perm) if perm else a,  # noqa: E731
                                          requires_grad=op != "matmul", device=device)
        x = t(x_np, 0, 3, 1, 2) if x_np.ndim == 4 else \
            t(x_np, 0, 2, 1) if x_np.ndim == 3 else t(x_np)
        x.requires_grad_(input_grad)
        w = b = None
        if op in ("conv", "conv_pool"):
            w, b = t(w_np, 3, 2, 0, 1), t(b_np)
        elif op == "depthwise":   # (k, k, C, 1) -> (C, 1, k, k)
            w, b = t(w_np, 2, 3, 0, 1), t(b_np)
        elif op == "conv1d":      # (k, C, F) -> (F, C, k)
            w, b = t(w_np, 2, 1, 0), t(b_np)
        elif op == "conv_transpose":   # (k, k, F, C) -> (C, F, k, k)
            w, b = t(w_np, 3, 2, 0, 1), t(b_np)
        elif op == "batchnorm":
            w, b = t(w_np), t(b_np)
        elif op == "dense":
            w, b = t(w_np, 1, 0), t(b_np)
        elif op == "matmul":
            w = t(w_np)
        # 'same': torch's symmetric padding (k-1)//2 gives the same output size and FLOPs
        # (TensorFlow's split puts a stride-2 conv's extra pixel bottom/right)
        pad = (p.get("k", 1) - 1) // 2 if p.get("padding") == "same" else 0
        fwd = {"conv": lambda: F.conv2d(x, w, b, stride=p.get("stride", 1), padding=pad),
               "conv_pool": lambda: F.max_pool2d(F.relu(F.conv2d(x, w, b)), 2),
               "depthwise": lambda: F.conv2d(x, w, b, padding=pad, groups=x.shape[1]),
               "batchnorm": lambda: F.batch_norm(x, None, None, w, b, training=True,
                                                 eps=1e-3),
               "conv1d": lambda: F.conv1d(x, w, b),
               "conv_transpose": lambda: F.conv_transpose2d(x, w, b,
                                                            stride=p.get("stride", 1)),
               "pool": lambda: F.max_pool2d(x, 2),
               "global_avg": lambda: x.mean((2, 3)),
               "dense": lambda: F.linear(x, w, b),
               "matmul": lambda: torch.mm(x, w)}[op]
    params = [a for a in (x, w, b) if a is not None and a.requires_grad]
    shape = tuple(fwd().shape)
    if torch is not None and len(shape) == 4:
        shape = (shape[0], shape[2], shape[3], shape[1])
    elif torch is not None and len(shape) == 3:
        shape = (shape[0], shape[2], shape[1])
    return fwd, params, shape


def samplers(fwd, params, g, sync) -> dict:
    """Seconds of one forward; with params, seconds of one backward (fresh forward untimed).
    `sync` waits for the device, so a GPU sample times the work, not its launch."""
    def forward():
        sync()
        return C.timed(lambda: (fwd(), sync()))

    def backward():
        for a in params:
            a.grad = None
        y = fwd()
        sync()
        return C.timed(lambda: (y.backward(g), sync()))
    return {"fwd": forward, "bwd": backward} if params else {"fwd": forward}


# ------------------------------------------------------------------ the worker
def work(a) -> dict:
    """One framework's samples of every selected op, in this fresh process."""
    out = {"framework": a.worker, "python": sys.version.split()[0], "ops": {}}
    mg = torch = None
    try:
        if a.worker == "torch":
            import torch
            torch.set_num_threads(a.threads)
            out["versions"] = {"torch": torch.__version__,
                               "torch_threads": torch.get_num_threads(),
                               "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
        elif a.worker == "minigrad" or a.device == "cuda":
            mg = C.import_minigrad()
            import numba
            out["versions"] = {"minigrad": mg.__version__, "numba": numba.__version__,
                               "numpy": np.__version__, "numba_threads": numba.get_num_threads(),
                               "numba_cpu": numba.config.CPU_NAME or "host"}
        else:  # the CPU's sgemm: NumPy alone
            out["versions"] = {"numpy": np.__version__}
    except ImportError as e:
        return {"framework": a.worker, "not_installed": f"{type(e).__name__}: {e}"}
    sync = lambda: None  # noqa: E731
    if a.device == "cuda":
        out["versions"]["gpu"] = C.gpu_name(torch)
        sync = torch.cuda.synchronize if torch else mg.backends.get_backend("cuda").cuda.synchronize
    rng = np.random.default_rng(0)
    if a.worker == "sgemm":  # the machine's rate: the BLAS minigrad calls (its kernel on a GPU)
        n = a.gemm
        A, B = (rng.random((n, n), dtype=np.float32) for _ in range(2))
        fwd = lambda: np.matmul(A, B)  # noqa: E731
        if mg is not None:
            fwd, _, _ = make_case("matmul", A, {"n": n}, False, a.device, mg=mg)
        t = C.alternate(samplers(fwd, [], None, sync), a.reps, a.warmup, a.min_time)["fwd"]
        out["ops"][f"sgemm {n}^3"] = {"fwd_s": C.median(t), "fwd_samples": t,
                                      "fwd_flop": 2 * n ** 3}
        cases = []
    else:
        cases = selected(a.cases)
    for name, op, shape, prm, input_grad in cases:
        x = rng.random(shape if op == "matmul" else (a.batch,) + shape, dtype=np.float32)
        fwd, params, oshape = make_case(op, x, prm, input_grad, a.device, mg=mg, torch=torch)
        g = rng.standard_normal(oshape, dtype=np.float32)  # NHWC, like the output shape
        if params and torch is not None:
            g = torch.tensor(np.moveaxis(g, -1, 1) if g.ndim > 2 else g, device=a.device)
        elif params:
            g = mg.Tensor(g, device=a.device)
        t = C.alternate(samplers(fwd, params, g, sync), a.reps, a.warmup, a.min_time)
        f = flops(op, x.shape, prm, oshape)
        # backward: the weight gradient, and the input's where the model needs it
        out["ops"][name] = {"fwd_flop": f, "bwd_flop": f and f * (1 + input_grad)}
        for d, ts in t.items():
            out["ops"][name] |= {f"{d}_s": C.median(ts), f"{d}_samples": ts}
    out["blas"] = C.blas_info()
    return out


def selected(cases: str | None):
    keys = [k.strip() for k in (cases or "").split(",") if k.strip()]
    return [c for c in CASES if not keys or any(k in c[0] for k in keys)]


# ------------------------------------------------------------------ the parent
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--reps", type=int, default=10, help="samples at least, per op and pass")
    p.add_argument("--warmup", type=int, default=2, help="untimed samples per op and pass")
    p.add_argument("--min-time", type=float, default=0.3,
                   help="keep sampling (up to 1000) until this many seconds per op and pass")
    p.add_argument("--gemm", type=int, default=2048, help="square sgemm reference size")
    p.add_argument("--pairs", type=int, default=3,
                   help="rounds of one process per framework (ABBA order)")
    p.add_argument("--cases", help="only the ops whose names contain one of these "
                                   "comma-separated strings, e.g. 'conv 13,dense'")
    p.add_argument("--vs", choices=["torch"], help="also measure PyTorch")
    C.add_common_args(p, FRAMEWORKS)
    return p.parse_args(argv)


def summarize(rounds: list[dict], names: list[str]) -> tuple[dict, float | None]:
    """Per op: medians over the rounds of each framework's per-process medians, and the
    per-round speed ratios minigrad/torch (torch's time over minigrad's); the sgemm rate."""
    def vals(fw, op, k):
        return [r[fw]["ops"][op].get(k) for r in rounds
                if "ops" in r.get(fw, {}) and op in r[fw]["ops"]]
    rates = [s["fwd_flop"] / s["fwd_s"] for r in rounds if "ops" in r.get("sgemm", {})
             for s in r["sgemm"]["ops"].values()]
    sgemm = C.median(rates) if rates else None
    out = {}
    for op in names:
        row = {}
        for fw in ("minigrad", "torch"):
            for d in ("fwd", "bwd"):
                row[f"{fw} {d}_s"] = C.spread(vals(fw, op, f"{d}_s"))
        for d in ("fwd", "bwd"):
            f = next(iter(vals("minigrad", op, f"{d}_flop")), None)
            t = row[f"minigrad {d}_s"]
            row[f"{d}_gflops"] = f / t["median"] / 1e9 if f and t else None
            row[f"{d}_of_sgemm"] = row[f"{d}_gflops"] * 1e9 / sgemm if (
                row[f"{d}_gflops"] and sgemm) else None
            row[f"{d}_ratio"] = C.spread(C.pair_ratios(
                rounds, "torch", "minigrad",
                lambda s, d=d, op=op: s.get("ops", {}).get(op, {}).get(f"{d}_s")))
        out[op] = row
    return out, sgemm


def report(a, info, notes, summary, sgemm, first, status) -> str:
    m = lambda s: None if s is None else s["median"] * 1e3  # noqa: E731  (ms)
    pct = lambda x: None if x is None else f"{100 * x:.0f}%"  # noqa: E731
    headers = [f"op (batch {a.batch})", "fwd ms", "fwd GFLOP/s", "of sgemm", "bwd ms",
               "bwd GFLOP/s", "of sgemm"]
    with_torch = a.vs == "torch" and "torch" not in status
    if with_torch:
        headers += ["torch fwd ms", "torch bwd ms", "fwd minigrad/torch", "bwd minigrad/torch"]
    rows = []
    for op, r in summary.items():
        row = [op, m(r["minigrad fwd_s"]), r["fwd_gflops"], pct(r["fwd_of_sgemm"]),
               m(r["minigrad bwd_s"]), r["bwd_gflops"], pct(r["bwd_of_sgemm"])]
        if with_torch:
            row += [m(r["torch fwd_s"]), m(r["torch bwd_s"]), r["fwd_ratio"], r["bwd_ratio"]]
        rows.append(row)
    ref = ("n/a" if sgemm is None else f"{sgemm / 1e9:,.0f} GFLOP/s") + (
        f" ({'NumPy float32 matmul' if a.device == 'cpu' else 'minigrad CUDA matmul'} "
        f"{a.gemm}^3, median over its own {a.pairs} process(es))")
    lines = [f"\nper-op times, device {a.device}, ISA {a.isa}, {a.threads} threads: "
             f"{a.pairs} round(s) of one fresh process per framework, ABBA order; per "
             f"process >= {a.reps} samples per op and pass (median); columns: medians over "
             "the rounds",
             f"sgemm reference: {ref}"]
    if with_torch:
        lines.append("minigrad/torch: torch's time over minigrad's in the same round, median "
                     "(min-max); > 1 = minigrad faster")
    lines += [C.format_table(headers, rows), C.machine_line(info)]
    lines += [f"{fw}: {st}" for fw, st in status.items()]
    return "\n".join(lines + C.footer_lines(first, notes))


def main(argv=None) -> None:
    a = parse_args(argv)
    if min(a.batch, a.reps, a.pairs, a.gemm) < 1:
        raise SystemExit("--batch, --reps, --pairs and --gemm must be at least 1")
    if a.worker:
        return C.emit(work(a))
    if not selected(a.cases):
        raise SystemExit(f"--cases {a.cases!r} selects no op; ops: "
                         + "; ".join(c[0] for c in CASES))
    frameworks = ["minigrad"] + (["torch"] if a.vs == "torch" else []) + ["sgemm"]
    env, notes = C.worker_env(a.threads, None if a.isa == "native" else a.isa,
                              a.keep_openblas_env)
    info = C.machine_info(a.threads)
    rounds, first, status = [], {}, {}
    for rnd in range(a.pairs):
        print(f"round {rnd + 1}/{a.pairs} ...", flush=True)
        sample = {}
        for fw in C.abba([f for f in frameworks if f not in status], rnd):
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", fw,
                   "--device", a.device, f"--cases={a.cases or ''}"]
            cmd += [f"--{k.replace('_', '-')}={getattr(a, k)}" for k in
                    ("batch", "reps", "warmup", "min_time", "gemm", "threads")]
            r = sample[fw] = C.run_worker(cmd, env, a.timeout, a.threads)
            if "not_installed" in r:
                status[fw] = f"not installed ({r['not_installed']})"
            elif "error" in r:
                print(f"  {fw}: FAILED: {r['error']}", file=sys.stderr, flush=True)
            else:
                first.setdefault(fw, r)
                print(f"  {fw}: {len(r['ops'])} op(s), {r['process_s']:.1f} s", flush=True)
        rounds.append(sample)
    for fw in frameworks:
        if fw not in status and fw not in first:
            status[fw] = "failed"
    info["loadavg_end"] = os.getloadavg()
    summary, sgemm = summarize(rounds, [c[0] for c in selected(a.cases)])
    C.write_json(a.json, {"benchmark": "ops", "args": vars(a), "machine": info, "env": notes,
                          "status": status, "sgemm_flops_per_s": sgemm, "summary": summary,
                          "rounds": rounds})
    print(report(a, info, notes, summary, sgemm, first, status))


if __name__ == "__main__":
    main()

"""Per-op forward/backward time and GFLOP/s for the MNIST convnet's layers (and a few more).

    python benchmarks/ops.py                        # minigrad only
    python benchmarks/ops.py --vs torch --json ops.json
    python benchmarks/ops.py --device cuda --vs torch   # on a GPU (each sample synchronises)

Forward runs with autograd recording (as in training); backward is timed alone,
on a fresh forward each sample. Samples of minigrad and torch alternate. The
reference lines are NumPy (and torch) float32 matmuls measured in the same run.
"""
from __future__ import annotations

import argparse
import sys

import _common as C  # first: puts the repo root on sys.path if minigrad is not installed

import numba
import numpy as np

import minigrad as mg

# name, op, input shape without batch (NHWC), params; input_grad=False where the real
# model needs no gradient for the input (the first conv reads the data)
CASES = [
    ("conv 28x28x1->26x26x32 3x3", "conv", (28, 28, 1), dict(k=3, f=32), False),
    ("conv 13x13x32->11x11x64 3x3", "conv", (13, 13, 32), dict(k=3, f=64), True),
    ("maxpool 26x26x32 /2", "pool", (26, 26, 32), {}, True),
    ("maxpool 11x11x64 /2", "pool", (11, 11, 64), {}, True),
    ("dense 1600->10", "dense", (1600,), dict(units=10), True),
    ("conv 14x14x32->14x14x64 5x5 same", "conv", (14, 14, 32), dict(k=5, f=64, padding="same"),
     True),
    ("conv 28x28x32->14x14x64 3x3 s2 same", "conv", (28, 28, 32),
     dict(k=3, f=64, stride=2, padding="same"), True),
]


def make_case(op, x_np, p, input_grad, device, torch=None):
    """(forward fn, params, output shape): minigrad's op, or with `torch` the same op
    in torch (NCHW, weights permuted from minigrad's layout), on `device`."""
    rng = np.random.default_rng(0)
    c = x_np.shape[-1]
    w_np = b_np = None
    if op == "conv":
        w_np = (rng.standard_normal((p["k"], p["k"], c, p["f"])) * 0.1).astype(np.float32)
        b_np = np.zeros(p["f"], np.float32)
    elif op == "dense":
        w_np = (rng.standard_normal((c, p["units"])) * 0.03).astype(np.float32)
        b_np = np.zeros(p["units"], np.float32)
    if torch is None:
        x = mg.Tensor(x_np, requires_grad=input_grad, device=device)
        w, b = (None, None) if w_np is None else (
            mg.Tensor(w_np, requires_grad=True, device=device),
            mg.Tensor(b_np, requires_grad=True, device=device))
        fwd = {"conv": lambda: mg.ops.conv2d(x, w, b, stride=p.get("stride", 1),
                                             padding=p.get("padding", "valid")),
               "pool": lambda: mg.ops.max_pool2d(x, 2),
               "dense": lambda: mg.ops.dense(x, w, b)}[op]
    else:
        F = torch.nn.functional
        t = lambda a, *perm: torch.tensor(a.transpose(*perm) if perm else a,  # noqa: E731
                                          requires_grad=True, device=device)
        x = t(x_np, 0, 3, 1, 2) if x_np.ndim == 4 else t(x_np)
        x.requires_grad_(input_grad)
        if op == "conv":
            w, b = t(w_np, 3, 2, 0, 1), t(b_np)
        elif op == "dense":
            w, b = t(w_np, 1, 0), t(b_np)
        else:
            w = b = None
        # 'same': torch's symmetric padding (k-1)//2 gives the same output size and FLOPs
        # (TensorFlow's split puts a stride-2 conv's extra pixel bottom/right)
        pad = (p.get("k", 1) - 1) // 2 if p.get("padding") == "same" else 0
        fwd = {"conv": lambda: F.conv2d(x, w, b, stride=p.get("stride", 1), padding=pad),
               "pool": lambda: F.max_pool2d(x, 2),
               "dense": lambda: F.linear(x, w, b)}[op]
    params = [a for a in (x, w, b) if a is not None and a.requires_grad]
    shape = tuple(fwd().shape)
    return fwd, params, shape


def samplers(fwd, params, g, sync):
    """Two samplers: seconds of one forward; seconds of one backward (fresh forward
    untimed). `sync` waits for the device, so a GPU sample times the work, not its launch."""
    def forward():
        sync()
        return C.timed(lambda: (fwd(), sync()))

    def backward():
        for a in params:
            a.grad = None
        y = fwd()
        sync()
        return C.timed(lambda: (y.backward(g), sync()))
    return forward, backward


def conv_flops(n, out_shape, k, c, f):  # one direction: 2*N*OH*OW*KH*KW*C*F
    return 2 * n * out_shape[1] * out_shape[2] * k * k * c * f


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--reps", type=int, default=10, help="samples at least, per op and pass")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--min-time", type=float, default=0.3,
                   help="keep sampling (up to 1000) until this many seconds per op and pass")
    p.add_argument("--gemm", type=int, default=2048, help="square reference matmul size")
    p.add_argument("--vs", choices=["torch"], help="also measure PyTorch")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="minigrad's device, and torch's with --vs torch")
    p.add_argument("--json", help="write the results to this file")
    a = p.parse_args()

    threads = numba.get_num_threads()
    torch = C.import_torch(threads) if a.vs == "torch" else None
    n, rng = a.batch, np.random.default_rng(0)
    mg_sync = torch_sync = lambda: None  # noqa: E731
    if a.device == "cuda":
        backend = mg.backends.get_backend("cuda")
        mg_sync = backend.cuda.synchronize
        torch_sync = torch.cuda.synchronize if torch is not None else torch_sync
    results = []
    for name, op, shape, prm, input_grad in CASES:
        print(f"{name} ...", flush=True)
        x = rng.random((n,) + shape, dtype=np.float32)
        fwd, params, out = make_case(op, x, prm, input_grad, a.device)
        g = rng.standard_normal(out, dtype=np.float32)
        s = dict(zip(("mg fwd", "mg bwd"),
                     samplers(fwd, params, mg.Tensor(g, device=a.device), mg_sync)))
        if torch is not None:
            tf, tp, tout = make_case(op, x, prm, input_grad, a.device, torch)
            tg = torch.tensor(g.transpose(0, 3, 1, 2) if g.ndim == 4 else g, device=a.device)
            assert tuple(tg.shape) == tout, (name, tg.shape, tout)
            s.update(zip(("torch fwd", "torch bwd"), samplers(tf, tp, tg, torch_sync)))
        t = {k: C.median(v) for k, v in
             C.alternate(s, a.reps, a.warmup, a.min_time).items()}
        flops = None
        if op == "conv":
            flops = conv_flops(n, out, prm["k"], shape[-1], prm["f"])
        elif op == "dense":
            flops = 2 * n * shape[0] * prm["units"]
        dirs = 1 + input_grad  # backward: weight grad (+ input grad); pools have no FLOPs
        results.append({"op": name, "input_grad": input_grad, "fwd_flop": flops,
                        "bwd_flop": flops and flops * dirs, **{k + " s": v for k, v in t.items()}})

    # reference: float32 GEMMs, the one minigrad's dense uses (NumPy's BLAS on the
    # CPU, the tiled kernel on a GPU) and torch's
    c2 = (n * 11 * 11, 3 * 3 * 32, 64)  # the second conv's im2col GEMM
    for label, (m, k, nn) in [(f"matmul {a.gemm}^3 (reference)", (a.gemm,) * 3),
                              (f"matmul {c2[0]}x{c2[1]}x{c2[2]} (conv2 im2col)", c2)]:
        print(f"{label} ...", flush=True)
        A = rng.random((m, k), dtype=np.float32)
        B = rng.random((k, nn), dtype=np.float32)
        backend = mg.backends.get_backend(a.device)
        dA, dB = backend.asarray(A), backend.asarray(B)
        s = {"mg fwd": lambda: C.timed(lambda: (backend.matmul(dA, dB), mg_sync()))}
        if torch is not None:
            tA, tB = torch.from_numpy(A).to(a.device), torch.from_numpy(B).to(a.device)
            s["torch fwd"] = lambda: C.timed(lambda: (torch.mm(tA, tB), torch_sync()))
        t = {k: C.median(v) for k, v in C.alternate(s, a.reps, a.warmup, a.min_time).items()}
        results.append({"op": label, "fwd_flop": 2 * m * k * nn, "bwd_flop": None,
                        **{k + " s": v for k, v in t.items()}})

    ms = lambda r, k: None if r.get(k) is None else r[k] * 1e3  # noqa: E731
    gf = lambda r, k, f: None if r.get(k) is None or not r[f] else r[f] / r[k] / 1e9  # noqa
    ratio = lambda r, d: (None if r.get(f"torch {d} s") is None or r.get(f"mg {d} s") is None
                          else r[f"mg {d} s"] / r[f"torch {d} s"])  # noqa: E731
    headers = ["op (batch %d)" % n, "fwd ms", "fwd GFLOP/s", "bwd ms", "bwd GFLOP/s"]
    if torch is not None:
        headers += ["torch fwd ms", "torch bwd ms", "fwd minigrad/torch", "bwd minigrad/torch"]
    rows = []
    for r in results:
        row = [r["op"], ms(r, "mg fwd s"), gf(r, "mg fwd s", "fwd_flop"), ms(r, "mg bwd s"),
               gf(r, "mg bwd s", "bwd_flop")]
        if torch is not None:
            row += [ms(r, "torch fwd s"), ms(r, "torch bwd s"), ratio(r, "fwd"), ratio(r, "bwd")]
        rows.append(row)
    info = C.machine_info(torch, a.device)
    C.write_json(a.json, {"benchmark": "ops", "machine": info, "args": vars(a),
                          "results": results})
    C.print_table(f"per-op times, median of >= {a.reps} samples, device {a.device}, "
                  f"{threads} threads (matmul rows: minigrad's backend matmul)", headers,
                  rows, info)


if __name__ == "__main__":
    sys.exit(main())

"""Train the Keras "simple MNIST convnet" with minigrad and its peers, each sample in its own
fresh process, the frameworks alternating process by process.

    python benchmarks/train_cnn.py                              # minigrad only
    python benchmarks/train_cnn.py --model cifar_bn --vs torch  # the batch-norm network
    python benchmarks/train_cnn.py --model convnet3 --batch 256 --vs torch  # 64/128/256 filters
    python benchmarks/train_cnn.py --vs torch --json train_cnn.json
    python benchmarks/train_cnn.py --vs all --python-for keras=/tmp/kvenv/bin/python
    python benchmarks/train_cnn.py --vs torch --isa avx2        # as on an AVX2-only machine
    python benchmarks/train_cnn.py --vs minigrad-2p,torch       # and 2 processes, data parallel

Per worker process: import, build and first training step (timed), warm-up steps, then
--windows windows of --steps steps through the framework's own training call (img/s: the
median window), predict at batch 1000, peak RSS. One cold-cache process per framework first
(empty Numba / Inductor caches). Then --pairs rounds of one process per framework, in ABBA
order. Reported per framework: medians over the rounds; per peer: minigrad's img/s over the
peer's in each round, median (min-max).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

import _common as C
from cnn_workers import FRAMEWORKS, MODEL_MODULES, MODELS, images_needed, work

PEER_GROUPS = {"torch": ["torch", "torch.compile"], "all": list(FRAMEWORKS[1:])}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="mnist_convnet",
                   help="mnist_convnet (Keras's simple MNIST convnet, on MNIST), cifar_bn "
                        "(examples/cifar_bn.py's network) or convnet3 (64/128/256 filters), "
                        "both on generated 32x32x3 images")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="training steps per timed window")
    p.add_argument("--windows", type=int, default=3, help="timed windows per process")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after the first")
    p.add_argument("--pairs", type=int, default=5,
                   help="rounds of one process per framework (ABBA order)")
    p.add_argument("--predict-images", type=int, default=5000, help="images per predict call")
    p.add_argument("--predict-reps", type=int, default=3, help="timed predict calls per process")
    p.add_argument("--vs", action="append", default=[],
                   help="peers, comma-separated: torch (eager and torch.compile), "
                        "torch.compile, keras-jax, keras-tf, tinygrad, all")
    p.add_argument("--no-compile", action="store_true", help="--vs torch without torch.compile")
    p.add_argument("--no-cold", action="store_true", help="skip the cold-cache processes")
    p.add_argument("--python-for", action="append", default=[], metavar="NAME=PYTHON",
                   help="the Python that runs a peer, e.g. keras=/tmp/kvenv/bin/python "
                        "(NAME: a framework, or keras / torch for both of theirs)")
    C.add_common_args(p, FRAMEWORKS)
    # a worker's own options (the parent passes them)
    p.add_argument("--data", help="(worker) the .npz of images the parent wrote")
    p.add_argument("--cold", action="store_true", help="(worker) first step only")
    return p.parse_args(argv)


def peers(vs: list[str], no_compile: bool) -> list[str]:
    out = []
    for name in (n.strip() for v in vs for n in v.split(",") if n.strip()):
        if name not in PEER_GROUPS and name not in FRAMEWORKS[1:]:
            raise SystemExit(f"--vs: unknown peer {name!r}; choose from "
                             f"{', '.join([*FRAMEWORKS[1:], 'all'])}")
        for fw in PEER_GROUPS.get(name, [name]):
            if fw not in out and not (no_compile and fw == "torch.compile"):
                out.append(fw)
    return out


def python_for(specs: list[str], framework: str) -> str:
    """The interpreter for `framework`: --python-for's exact name, else its family's
    (keras-jax -> keras, torch.compile -> torch), else this one."""
    if any("=" not in s for s in specs):
        raise SystemExit(f"--python-for wants NAME=PYTHON, got {specs}")
    table = dict(s.split("=", 1) for s in specs)
    family = framework.replace(".", "-").split("-")[0]
    return table.get(framework) or table.get(family) or sys.executable


def write_data(folder: str, a) -> str:
    """The images every worker trains and predicts on, as uint8: minigrad's MNIST, or for
    the other models random images of their input shape (throughput does not depend on
    their content)."""
    n = images_needed(a.batch, a.warmup, a.steps, a.windows)
    path = os.path.join(folder, "images.npz")
    if a.model in MODEL_MODULES:
        shape = MODEL_MODULES[a.model].INPUT
        rng = np.random.default_rng(0)
        np.savez(path, x_train=rng.integers(0, 256, (n, *shape), np.uint8),
                 y_train=rng.integers(0, 10, n),
                 x_pred=rng.integers(0, 256, (a.predict_images, *shape), np.uint8))
        return path
    mg = C.import_minigrad()
    (x, y), (xt, _) = mg.datasets.mnist.load_data()
    np.savez(path, x_train=np.resize(x, (n, 28, 28)), y_train=np.resize(y, n),
             x_pred=np.resize(xt, (a.predict_images, 28, 28)))
    return path


def summarize(frameworks, cold, rounds) -> dict:
    def ok(fw):
        return [r[fw] for r in rounds if fw in r and "error" not in r[fw]
                and "not_installed" not in r[fw]]
    out = {}
    for fw in frameworks:
        s = ok(fw)
        med = lambda k: C.spread([x.get(k) for x in s])  # noqa: E731
        out[fw] = {"train_images_per_s": med("train_images_per_s"),
                   "predict_images_per_s": med("predict_images_per_s"),
                   "first_step_warm_s": med("first_step_s"), "import_s": med("import_s"),
                   "peak_rss_mb": med("peak_rss_mb"),
                   "first_step_cold_s": cold.get(fw, {}).get("first_step_s")}
        for ours, suffix in (("minigrad", ""), ("minigrad-2p", "_2p")):
            if fw.startswith("minigrad") or ours not in frameworks:
                continue   # minigrad-2p's ratios: to the peers, not to minigrad
            for k in ("train_images_per_s", "predict_images_per_s"):
                out[fw][k.split("_")[0] + "_ratio" + suffix] = C.spread(
                    C.pair_ratios(rounds, ours, fw, lambda x, k=k: x.get(k)))
        if fw == "minigrad-2p":
            for k in ("train_images_per_s", "predict_images_per_s"):
                out[fw][k.split("_")[0] + "_ratio"] = C.spread(
                    C.pair_ratios(rounds, "minigrad", fw, lambda x, k=k: x.get(k)))
    return out


def report(a, info, notes, frameworks, status, summary, first) -> str:
    headers = ["framework", "train img/s", "predict img/s", "first step warm (s)",
               "first step cold (s)", "import (s)", "peak RSS (MB)",
               "train minigrad/peer", "predict minigrad/peer"]
    two = "minigrad-2p" in frameworks and "minigrad-2p" not in status
    if two:
        headers += ["train minigrad-2p/peer", "predict minigrad-2p/peer"]
    rows = []
    for fw in frameworks:
        if fw in status:
            rows.append([fw, status[fw]] + [""] * (len(headers) - 2))
            continue
        s = summary[fw]
        m = lambda k: None if s[k] is None else s[k]["median"]  # noqa: E731
        rows.append([fw, m("train_images_per_s"), m("predict_images_per_s"),
                     m("first_step_warm_s"), s["first_step_cold_s"], m("import_s"),
                     m("peak_rss_mb"), s.get("train_ratio", "-"), s.get("predict_ratio", "-")]
                    + ([s.get("train_ratio_2p", "-"), s.get("predict_ratio_2p", "-")]
                       if two else []))
    lines = [f"\n{MODELS[a.model]}, batch {a.batch}, device {a.device}, ISA {a.isa}, "
             f"{a.threads} threads: {a.pairs} round(s) of one fresh process per framework, "
             "ABBA order",
             f"per process: first step, {a.warmup} warm-up steps, {a.windows} window(s) of "
             f"{a.steps} steps (median), predict {a.predict_images} images x "
             f"{a.predict_reps} at batch 1000 (median); columns: medians over the rounds",
             "minigrad/peer: minigrad's img/s over the peer's in the same round, median "
             "(min-max) over the rounds; > 1 = minigrad faster",
             *(["minigrad-2p: minigrad data parallel over 2 processes forked on this "
                "machine (initialize(num_processes=2)), threads / 2 each; its peak RSS is "
                "rank 0's"] if two else []),
             C.format_table(headers, rows), C.machine_line(info)]
    return "\n".join(lines + C.footer_lines(first, notes))


def main(argv=None) -> None:
    a = parse_args(argv)
    if min(a.batch, a.steps, a.windows, a.pairs, a.predict_images, a.predict_reps) < 1:
        raise SystemExit("--batch, --steps, --windows, --pairs, --predict-images and "
                         "--predict-reps must be at least 1")
    if a.worker:
        if not a.data:
            raise SystemExit("--worker needs --data (train_cnn.py writes it)")
        result = work(a)
        return None if result is None else C.emit(result)
    frameworks = ["minigrad"] + peers(a.vs, a.no_compile)
    for fw in frameworks:
        python_for(a.python_for, fw)  # a malformed --python-for stops here, not mid-run
    env, notes = C.worker_env(a.threads, None if a.isa == "native" else a.isa,
                              a.keep_openblas_env)
    info = C.machine_info(a.threads)
    status, cold, rounds, first = {}, {}, [], {}

    with tempfile.TemporaryDirectory() as tmp:
        data = write_data(tmp, a)

        def run(fw, cold_run):
            cmd = [python_for(a.python_for, fw), os.path.abspath(__file__), "--worker", fw,
                   "--data", data, "--device", a.device, "--model", a.model]
            cmd += [f"--{k.replace('_', '-')}={getattr(a, k)}" for k in
                    ("batch", "steps", "windows", "warmup", "predict_reps", "threads")]
            if not cold_run:
                return C.run_worker(cmd, env, a.timeout, a.threads)
            with tempfile.TemporaryDirectory() as caches:
                return C.run_worker(cmd + ["--cold"], C.cold_env(env, caches), a.timeout,
                                    a.threads)

        def record(fw, r, label):
            fw_label = f"{fw} ({label})" if label else fw
            if "not_installed" in r:
                status[fw] = "not installed"
                print(f"  {fw}: not installed ({r['not_installed']})", flush=True)
            elif "error" in r:
                print(f"  {fw_label}: FAILED: {r['error']}", file=sys.stderr, flush=True)
            else:
                first.setdefault(fw, r)
                speed = (f"train {r['train_images_per_s']:,.0f} img/s, predict "
                         f"{r['predict_images_per_s']:,.0f} img/s, "
                         if "train_images_per_s" in r else "")
                print(f"  {fw_label}: {speed}first step {r['first_step_s']:.2f} s "
                      f"({r['process_s']:.1f} s in all)", flush=True)

        if not a.no_cold:
            print("cold caches, one process each ...", flush=True)
            for fw in frameworks:
                cold[fw] = run(fw, True)
                record(fw, cold[fw], "cold")
        for rnd in range(a.pairs):
            print(f"round {rnd + 1}/{a.pairs} ...", flush=True)
            sample = {}
            for fw in C.abba([f for f in frameworks if f not in status], rnd):
                sample[fw] = run(fw, False)
                record(fw, sample[fw], "")
            rounds.append(sample)
    ran = {fw for r in rounds for fw, s in r.items() if "error" not in s}
    for fw in frameworks:
        if fw not in status and fw not in ran:
            status[fw] = "failed"
    info["loadavg_end"] = os.getloadavg()
    summary = summarize(frameworks, {k: v for k, v in cold.items() if "error" not in v},
                        rounds)
    C.write_json(a.json, {"benchmark": "train_cnn", "model": a.model, "args": vars(a),
                          "machine": info, "env": notes, "frameworks": frameworks,
                          "status": status, "summary": summary, "cold": cold,
                          "rounds": rounds})
    print(report(a, info, notes, frameworks, status, summary, first))


if __name__ == "__main__":
    main()

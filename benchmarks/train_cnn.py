"""Train the Keras "simple MNIST convnet" with minigrad (and, with --vs torch, PyTorch).

    python benchmarks/train_cnn.py                      # minigrad only
    python benchmarks/train_cnn.py --vs torch --json train_cnn.json

Measures first-step time (cold and warm Numba cache, each in a fresh process),
training images/s (median over windows of --steps steps, minigrad and torch
windows alternating so machine noise hits both), a full-epoch estimate, predict
images/s at batch 1000, and peak RSS. Threads: numba.get_num_threads() (set it
with NUMBA_NUM_THREADS); torch gets the same number.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

import _common as C  # first: puts the repo root on sys.path if minigrad is not installed

import numba
import numpy as np

import minigrad as mg
from minigrad import layers

EPOCH_IMAGES = 60000


def load_mnist(n_train=None):
    """MNIST as the Keras example uses it: NHWC float32 in [0, 1], int64 labels."""
    (x, y), (xt, _) = mg.datasets.mnist.load_data()
    x, y = x[:n_train], y[:n_train]
    scale = lambda a: (a.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    return scale(x), y.astype(np.int64), scale(xt)


# ------------------------------------------------------------------ minigrad
def mg_model(device="cpu"):
    model = mg.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=device)
    return model


def mg_train(model, x, y, batch):
    # The real user path: model.fit on the window's slice (shuffled, accuracy metric,
    # softmax fused into the loss), verbose=0. Per call it adds only input checks on
    # the slice and a disabled progress bar: ~1 ms against a window of seconds.
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)


def mg_predict(model, x):
    model.predict(x, batch_size=1000, verbose=0)


# --------------------------------------------------------------------- torch
def torch_model(torch, device="cpu"):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))  # softmax fused in the loss
    for m in model:  # Keras's init: glorot_uniform kernels, zero biases
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)  # Keras's defaults
    return model, opt


def torch_train(torch, model, opt, x, y, batch):
    """What fit does per batch, eager: shuffle, forward, CE loss, backward, Adam, metrics."""
    F = torch.nn.functional
    model.train()
    order = torch.randperm(len(x), device=x.device)
    for s in range(0, len(x), batch):
        idx = order[s:s + batch]
        xb, yb = x[idx], y[idx]
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        (out.argmax(1) == yb).sum().item()


def torch_predict(torch, model, x):
    model.eval()
    with torch.no_grad():
        np.concatenate([torch.softmax(model(x[s:s + 1000]), 1).cpu().numpy()
                        for s in range(0, len(x), 1000)])


def nchw(torch, x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


# ------------------------------------------------------- first step, fresh process
def first_step_worker(framework, batch, device):
    """Run in a fresh process: import, build, one training step (timed), 4 more, RSS."""
    t0 = time.perf_counter()
    if framework == "torch":
        torch = C.import_torch(numba.get_num_threads())
    t_import = time.perf_counter() - t0
    x, y, _ = load_mnist(5 * batch)
    t0 = time.perf_counter()
    if framework == "minigrad":
        model = mg_model(device)
        step = lambda xb, yb: mg_train(model, xb, yb, batch)  # noqa: E731
    else:
        x, y = nchw(torch, x).to(device), torch.from_numpy(y).to(device)
        model, opt = torch_model(torch, device)
        step = lambda xb, yb: torch_train(torch, model, opt, xb, yb, batch)  # noqa: E731
    step(x[:batch], y[:batch])
    first = time.perf_counter() - t0
    step(x[batch:], y[batch:])
    print(json.dumps({"import_s": t_import, "first_step_s": first,
                      "peak_rss_mb": C.peak_rss_mb()}))


def first_step(framework, batch, device, cold):
    """first_step_worker in a subprocess; cold: with an empty NUMBA_CACHE_DIR."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--_worker",
                              framework, "--batch", str(batch), "--device", device], env=env,
                             capture_output=True, text=True)
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        raise RuntimeError(f"first-step worker ({framework}) failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="training steps per window")
    p.add_argument("--windows", type=int, default=5, help="timed windows per framework")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps")
    p.add_argument("--predict-images", type=int, default=2000,
                   help="images per predict window (batch 1000)")
    p.add_argument("--vs", choices=["torch"], help="also measure PyTorch")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="minigrad's device, and torch's with --vs torch")
    p.add_argument("--_worker", choices=["minigrad", "torch"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._worker:
        return first_step_worker(a._worker, a.batch, a.device)

    threads = numba.get_num_threads()
    torch = C.import_torch(threads) if a.vs == "torch" else None
    mg.random.seed(0)
    x, y, x_test = load_mnist()
    win = a.steps * a.batch
    slices = [slice((i * win) % (len(x) - win), (i * win) % (len(x) - win) + win)
              for i in range(a.windows)]
    xp = x_test[:a.predict_images]

    # each runner: name -> (train(slice), predict() or None)
    model = mg_model(a.device)
    runners = {"minigrad": (lambda s: mg_train(model, x[s], y[s], a.batch),
                            lambda: mg_predict(model, xp))}
    res = {"minigrad": {}}
    if torch is not None:
        torch.manual_seed(0)
        tx, ty, txp = (t.to(a.device) for t in (nchw(torch, x), torch.from_numpy(y),
                                                nchw(torch, xp)))
        tm, topt = torch_model(torch, a.device)
        runners["torch"] = (lambda s: torch_train(torch, tm, topt, tx[s], ty[s], a.batch),
                            lambda: torch_predict(torch, tm, txp))
        res["torch"] = {}
        if not a.no_compile:
            cm, copt = torch_model(torch, a.device)
            cm_c = torch.compile(cm)
            t0 = time.perf_counter()
            try:  # warm-up compiles (forward and backward graphs)
                torch_train(torch, cm_c, copt, tx[:2 * a.batch], ty[:2 * a.batch], a.batch)
                torch_predict(torch, cm_c, txp[:1000])  # compiles the eval-mode graph too
                runners["torch.compile"] = (
                    lambda s: torch_train(torch, cm_c, copt, tx[s], ty[s], a.batch),
                    lambda: torch_predict(torch, cm_c, txp))
                res["torch.compile"] = {"compile_s": time.perf_counter() - t0}
            except Exception as e:  # no C++ compiler, unsupported platform, ...
                print(f"torch.compile failed, reported n/a: {type(e).__name__}: {e}",
                      file=sys.stderr)
                res["torch.compile"] = {"error": f"{type(e).__name__}: {e}"}

    print(f"warm-up ({a.warmup} steps each) ...", flush=True)
    for name, (train, predict) in runners.items():
        train(slice(0, a.warmup * a.batch))
        if predict:
            predict()

    print("first step in fresh processes (cold, then warm Numba cache) ...", flush=True)
    for fw in ["minigrad"] + (["torch"] if torch is not None else []):
        cold = first_step(fw, a.batch, a.device, cold=True)
        warm = first_step(fw, a.batch, a.device, cold=False)
        res[fw].update(first_step_cold_s=cold["first_step_s"],
                       first_step_warm_s=warm["first_step_s"], import_s=warm["import_s"],
                       peak_rss_mb=warm["peak_rss_mb"])

    print(f"timing {a.windows} windows x {a.steps} steps, frameworks alternating ...",
          flush=True)
    samplers = {}
    for name, (train, predict) in runners.items():
        order = itertools.cycle(slices)  # every framework trains on the same slices
        samplers[name] = lambda train=train, order=order: C.timed(train, next(order))
        if predict:
            samplers[name + " predict"] = lambda predict=predict: C.timed(predict)
    report = lambda t: print(f"  window {len(t['minigrad'])}: " + ", ".join(  # noqa: E731
        f"{n} {win / t[n][-1]:.0f} img/s" for n in runners), flush=True)
    times = C.alternate(samplers, reps=a.windows, warmup=0, report=report)
    for name in runners:
        ips = win / C.median(times[name])
        res[name].update(train_images_per_s=ips, epoch_estimate_s=EPOCH_IMAGES / ips,
                         train_window_s=times[name])
        if name + " predict" in times:
            res[name]["predict_images_per_s"] = len(xp) / C.median(times[name + " predict"])

    info = C.machine_info(torch, a.device)
    cols = list(res)
    rows = []
    metrics = [("first step, cold cache (s)", "first_step_cold_s", False),
               ("first step, warm cache (s)", "first_step_warm_s", False),
               (f"train images/s (batch {a.batch})", "train_images_per_s", True),
               ("epoch estimate (s)", "epoch_estimate_s", False),
               ("predict images/s (batch 1000)", "predict_images_per_s", True),
               ("peak RSS, 5 steps (MB)", "peak_rss_mb", False),
               ("torch.compile warm-up (s)", "compile_s", False)]
    for label, key, higher_better in metrics:
        vals = [res[c].get(key) for c in cols]
        if all(v is None for v in vals):
            continue
        row = [label] + vals
        for c in cols[1:]:  # minigrad / torch, as time (or memory): > 1 = minigrad slower
            m, t = res["minigrad"].get(key), res[c].get(key)
            row.append(None if m is None or t is None else (t / m if higher_better else m / t))
        rows.append(row)
    headers = ["metric"] + cols + [f"minigrad/{c} (time)" for c in cols[1:]]
    C.write_json(a.json, {"benchmark": "train_cnn", "machine": info, "args": vars(a),
                          "results": res})
    C.print_table(f"simple MNIST convnet, batch {a.batch}, {a.windows} windows x "
                  f"{a.steps} steps, device {a.device}, {threads} CPU threads",
                  headers, rows, info)


if __name__ == "__main__":
    main()

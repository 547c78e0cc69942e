"""Run by tests/test_distribution_mpi.py under `mpiexec -n 2`, and by
tests/test_distribution_local.py as one process that forks the other
(TEST_LOCAL_PROCESSES=2): fit, evaluate and
predict under DataParallel, one scenario per call (`fit.py SCENARIO DIR`).

A scenario prints `OK <scenario> rank <r>` when its checks pass on that rank;
a failed check raises, which (after initialize()) aborts the whole job.
"""
import json
import os
import sys
import time

import numpy as np

import minigrad as mg
from minigrad import layers as L
from minigrad.callbacks import Callback, ModelCheckpoint
from minigrad.distribution import distribution_lib

scenario, folder = sys.argv[1], sys.argv[2]
mg.distribution.initialize(timeout=float(os.environ.get("TEST_TIMEOUT", "60")),
                            num_processes=int(os.environ.get("TEST_LOCAL_PROCESSES", 0)) or None)
rank = mg.distribution.process_id()
DP = mg.distribution.DataParallel()
mg.distribution.set_distribution(DP)
EPOCHS, KILL_EPOCH = 3, 1


def data(n=80):
    rng = np.random.default_rng(123)
    x = rng.standard_normal((n, 8, 8, 1)).astype("f4")
    y = (x[:, :4].sum(axis=(1, 2, 3)) > 0).astype(int) + (x[:, :, :4].mean() > 0)
    return x, y


def new_model(units=3, optimizer="adam"):
    model = mg.Sequential([
        L.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        L.Dropout(0.25),                       # masks from minigrad.random
        L.MaxPooling2D(2), L.Flatten(),
        L.Dropout(0.2, seed=7),                # masks from a private generator
        L.Dense(units, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def same_on_every_rank(arrays, what):
    """Every rank's arrays equal rank 0's, bit for bit."""
    theirs = DP.group.allgather_object([np.asarray(a) for a in arrays])
    for r, other in enumerate(theirs):
        for i, (a, b) in enumerate(zip(other, theirs[0])):
            assert a.dtype == b.dtype and np.array_equal(a, b), \
                f"{what} {i}: rank {r} differs from rank 0"


def one_process(fn):
    """Run fn() as a single process would: no distribution."""
    mg.distribution.set_distribution(None)
    try:
        return fn()
    finally:
        mg.distribution.set_distribution(DP)


def relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


class Stall(Callback):
    """In epoch `epoch` after batch 1: rank `who` announces itself (a file), then
    does `action` (sleep: to be killed or to time out; raise)."""

    def __init__(self, epoch, who, action):
        self.epoch, self.who, self.action, self.current = epoch, who, action, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 1 and rank == self.who:
            open(os.path.join(folder, f"ready{rank}"), "w").close()
            if self.action == "raise":
                raise RuntimeError(f"rank {rank} fails mid-epoch")
            time.sleep(120)


x, y = data()

if scenario == "equivalence":
    # 2 ranks x global batch 16 == 1 process x batch 16: shuffling, dropout (both
    # kinds), validation, several epochs of Adam; the ranks end bit-identical.
    # Rank 1 starts from other weights and another random state: fit gives it rank 0's
    def run(seed):
        mg.random.seed(seed)
        model = new_model()
        hist = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.2, verbose=0)
        return model, hist.history
    model, hist = run(0 if rank == 0 else 99)
    ref_model, ref_hist = one_process(lambda: run(0))
    same_on_every_rank(model.get_weights(), "weight")
    same_on_every_rank([np.array(v) for v in hist.values()], "log")
    for i, (a, b) in enumerate(zip(model.get_weights(), ref_model.get_weights())):
        assert relative(a, b) < 1e-5, (i, relative(a, b))
    for key in ref_hist:   # the logs are the whole batch's, as one process's
        assert np.allclose(hist[key], ref_hist[key], rtol=1e-5), (key, hist[key], ref_hist[key])
    # evaluate and predict: sharded, reduced and gathered, the whole result on every rank
    got = model.evaluate(x, y, batch_size=24, verbose=0)
    want = one_process(lambda: model.evaluate(x, y, batch_size=24, verbose=0))
    assert np.allclose(got, want, rtol=1e-6), (got, want)
    pred = model.predict(x[:51], batch_size=16, verbose=0)
    assert pred.shape == (51, 3)
    alone = one_process(lambda: model.predict(x[:51], batch_size=16, verbose=0))
    np.testing.assert_allclose(pred, alone, rtol=1e-6, atol=1e-7)
    same_on_every_rank([pred, np.array(got)], "evaluate/predict")
    # batches from a generator: every rank reads the same ones and takes its rows
    def fed(*args, **kwargs):
        mg.random.seed(3)
        m = new_model()
        m.fit(*args, epochs=1, verbose=0, **kwargs)
        return m.get_weights()
    from_arrays = fed(x, y, batch_size=16, shuffle=False)
    from_generator = fed((x[i:i + 16], y[i:i + 16]) for i in range(0, 80, 16))
    for a, b in zip(from_arrays, from_generator):
        np.testing.assert_array_equal(a, b)
    same_on_every_rank(from_generator, "weight (generator)")
    # BatchNormalization: shard statistics, moving statistics averaged every step
    mg.random.seed(4)
    bn = mg.Sequential([L.Flatten(input_shape=(8, 8, 1)), L.Dense(6), L.BatchNormalization(),
                        L.Dense(3, activation="softmax")])
    bn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    moving = bn.layers[2].moving_mean.numpy().copy()
    bn.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert not np.array_equal(bn.layers[2].moving_mean.numpy(), moving)
    same_on_every_rank(bn.get_weights(), "weight (with BatchNormalization)")
    worst = max(relative(a, b) for a, b in zip(model.get_weights(), ref_model.get_weights()))
    print(f"relative weight difference to one process: {worst:.2e}", flush=True)

elif scenario == "emulation":
    # the 2-rank steps, emulated in this one process: each shard's gradient times
    # its share, summed as the Allreduce sums, then the optimizer: bit for bit
    mg.random.seed(1)
    model = new_model(optimizer="sgd")
    start = model.get_weights()
    model.fit(x[:48], y[:48], batch_size=16, epochs=1, verbose=0)
    mg.random.seed(1)
    emu = one_process(lambda: new_model(optimizer="sgd"))
    emu.set_weights(start)
    weights = emu._train_weights()
    xs, ys, _ = emu._check_arrays(x[:48], y[:48], None, None, "emulation")  # as fit does
    order = mg.random.generator().permutation(48)
    for step in range(3):
        idx = order[step * 16:(step + 1) * 16]
        batch = ([xs[0][idx]], [ys[0][idx]], None)
        state = emu._random_states()
        summed = None
        for r in (0, 1):
            emu._set_random_states(state)   # every rank draws the same seeds
            lo, hi = 8 * r, 8 * (r + 1)
            with mg.random.batch_shard(lo, hi - lo):
                total = emu._forward_loss(tuple(
                    None if p is None else [a[lo:hi] for a in p] for p in batch), True)[0]
                total.backward()
            part = [np.multiply(w.grad.numpy(), np.float32(0.5)) for w in weights]
            summed = part if summed is None else [a + b for a, b in zip(summed, part)]
            for w in weights:
                w.grad = None
        emu.optimizer.apply(summed, weights)
    for i, (a, b) in enumerate(zip(model.get_weights(), emu.get_weights())):
        assert np.array_equal(a, b), f"weight {i}: the emulation differs by " \
                                     f"{np.abs(a - b).max():g}"

elif scenario == "mismatch":
    model = new_model(units=3 if rank == 0 else 4)   # rank 1 built another model
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    print(f"UNREACHED rank {rank}", flush=True)

elif scenario in ("raise", "timeout"):
    mg.random.seed(0)
    new_model().fit(x, y, batch_size=16, epochs=2, verbose=0,
                    callbacks=[Stall(0, 1, "raise" if scenario == "raise" else "sleep")])
    print(f"UNREACHED rank {rank}", flush=True)

elif scenario in ("full", "interrupted", "resume"):
    # rank 0 writes the checkpoint at each epoch end; a resumed job loads it on
    # both ranks (one shared folder here) and fits on from the saved epoch
    ckpt = os.path.join(folder, "ckpt.npz")
    callbacks = [ModelCheckpoint(ckpt)]
    if scenario == "resume":
        model = mg.load_model(ckpt)
        with np.load(ckpt) as f:
            epoch = json.loads(bytes(f["config"]).decode())["epoch"]
        history = model.fit(x, y, batch_size=16, epochs=EPOCHS, initial_epoch=epoch,
                            validation_split=0.25, callbacks=callbacks, verbose=0)
    else:
        mg.random.seed(0)
        model = new_model()
        if scenario == "interrupted":
            callbacks.append(Stall(KILL_EPOCH, 0, "sleep"))
        history = model.fit(x, y, batch_size=16, epochs=EPOCHS, validation_split=0.25,
                            callbacks=callbacks, verbose=0)
    same_on_every_rank(model.get_weights(), "weight")
    if rank == 0:
        np.savez(os.path.join(folder, "final.npz"), *model.get_weights())
        with open(os.path.join(folder, "history.json"), "w") as f:
            json.dump({"epoch": history.epoch, **history.history}, f)

elif scenario == "cuda":
    # weights on the GPU (the simulator here): the flat buffer staged through the
    # host; the same training as on the CPU, identical ranks
    def on(device):
        mg.random.seed(0)
        m = mg.Sequential([L.Flatten(input_shape=(8, 8, 1)), L.Dense(5, activation="relu"),
                           L.Dropout(0.3), L.BatchNormalization(),
                           L.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=device)
        hist = m.fit(x[:16], y[:16], batch_size=8, epochs=2, verbose=0)
        return m.get_weights(), hist.history
    (on_gpu, gpu_logs), (on_cpu, cpu_logs) = on("cuda"), on("cpu")
    same_on_every_rank(on_gpu, "weight (cuda)")
    # Adam divides by sqrt(v): where a gradient is near 0, float32 rounding of the
    # two devices moves a weight by up to ~1e-5 (5.6e-6 seen); a wrong or missing
    # gradient sum moves weights by the step size, ~1e-3 per step
    for a, b in zip(on_gpu, on_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(gpu_logs["loss"], cpu_logs["loss"], rtol=1e-5)

else:
    raise SystemExit(f"unknown scenario {scenario!r}")

assert distribution_lib.writes_files() == (rank == 0)
print(f"OK {scenario} rank {rank}", flush=True)

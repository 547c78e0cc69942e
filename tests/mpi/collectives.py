"""Run by tests/test_distribution.py under `mpiexec -n 2`, and by
tests/test_distribution_local.py as one process that forks the other
(TEST_LOCAL_PROCESSES=2): one scenario per call.

Each scenario prints `OK <scenario> rank <r>` when its checks pass on that
rank; failures raise (which, after initialize(), aborts the whole job).
"""
import os
import sys
import time

import numpy as np

import minigrad as mg
from minigrad.distribution import process_group, sync, threads

scenario = sys.argv[1]
timeout = float(os.environ.get("TEST_TIMEOUT", "60"))
mg.distribution.initialize(timeout=timeout,
                            num_processes=int(os.environ.get("TEST_LOCAL_PROCESSES", 0)) or None)
group = mg.distribution.group()
rank, size = group.rank, group.size
assert size == 2 and mg.distribution.num_processes() == 2, size
assert mg.distribution.process_id() == rank


def rank_grads(r: int) -> list:
    """The gradients rank r contributes (every rank can compute every rank's)."""
    g = np.random.default_rng(100 + r)
    grads = [g.standard_normal((3, 4)).astype("f4"), g.standard_normal(4).astype("f4"),
             g.standard_normal((2, 2, 1, 5)).astype("f4")]
    if r == 1:
        grads[1] = None   # a weight without a gradient on one rank only
    return grads


if scenario == "allreduce":
    weights = [mg.Tensor(np.zeros(s, "f4"), requires_grad=True)
               for s in [(3, 4), (4,), (2, 2, 1, 5)]]
    buf = mg.distribution.FlatBuffer(weights, extra=2)
    assert all(np.shares_memory(v, buf.host) for v in buf.views)   # views, not copies
    for step in range(3):
        scale = 0.25 if rank == 0 else 0.75
        buf.collect(rank_grads(rank), scale=scale)
        buf.extra[:] = [rank + 1.0, 10.0 * step]
        buf.allreduce(group)
        expect = []
        for i in range(3):
            parts = [(np.float32(s) * rank_grads(r)[i]) for r, s in ((0, 0.25), (1, 0.75))
                     if rank_grads(r)[i] is not None]
            expect.append(parts[0] + parts[1] if len(parts) == 2 else parts[0])
        for got, want in zip(buf.gradients(), expect):
            np.testing.assert_array_equal(got, want)   # two ranks: a + b, bit for bit
        assert buf.flags.tolist() == [2, 1, 2], buf.flags
        assert buf.extra.tolist() == [3.0, 20.0 * step], buf.extra

elif scenario == "broadcast":
    mine = [np.full((2, 3), rank, "f4"), np.arange(4, dtype="f8") * (rank + 1),
            np.full(5, rank + 7, "f4")]
    got = sync.broadcast_arrays(group, mine)
    want = [np.zeros((2, 3), "f4"), np.arange(4, dtype="f8"), np.full(5, 7, "f4")]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    state = group.broadcast_object({"rank": rank, "rng": np.random.default_rng(rank)
                                    .bit_generator.state})
    assert state["rank"] == 0
    assert group.allgather_object(("r", rank)) == [("r", 0), ("r", 1)]
    group.barrier()

elif scenario == "signature":
    units = 10 if rank == 0 else 12   # rank 1 built another model
    sync.check_same(group, {"minigrad": mg.__version__,
                            "weights": [["dense/kernel", [784, units], "float32"]]})
    print(f"UNREACHED rank {rank}", flush=True)

elif scenario == "same-signature":
    sync.check_same(group, {"minigrad": mg.__version__,
                            "weights": [["dense/kernel", [784, 10], "float32"]]})

elif scenario == "raise":
    buf = np.ones(4, "f4")
    for step in range(1000):
        if rank == 1 and step == 3:
            raise RuntimeError("rank 1 fails mid-epoch")
        group.allreduce_(buf)
        buf[:] = 1
    print(f"UNREACHED rank {rank}", flush=True)

elif scenario == "timeout":
    buf = np.ones(4, "f4")
    group.allreduce_(buf)
    if rank == 1:
        time.sleep(60)   # busy elsewhere: rank 0 waits in the next collective
    group.allreduce_(buf)
    print(f"UNREACHED rank {rank}", flush=True)

elif scenario == "timeout-holding-the-gil":
    buf = np.ones(4, "f4")
    group.allreduce_(buf)
    if rank == 1:
        sys.setswitchinterval(1000)   # its watchdog thread cannot run, so cannot answer
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass
    group.allreduce_(buf)
    print(f"UNREACHED rank {rank}", flush=True)

elif scenario == "threads":
    numba_threads, blas_threads = threads.current_threads()
    want = int(os.environ.get(process_group.THREADS_ENV) or threads.default_threads(2))
    assert numba_threads == want, (numba_threads, want)
    assert blas_threads in (None, want), (blas_threads, want)
    print(f"threads rank {rank}: numba {numba_threads} blas {blas_threads}", flush=True)

else:
    raise SystemExit(f"unknown scenario {scenario!r}")

print(f"OK {scenario} rank {rank}", flush=True)

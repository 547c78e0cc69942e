"""minigrad.distribution across 2 MPI processes on loopback (`mpiexec -n 2`).

Each test runs a scenario of tests/mpi/*.py as a subprocess under mpiexec with
a wall-clock limit, so a hang fails the test instead of the suite
(distribution_jobs.py). Skipped
cleanly where mpi4py or mpiexec is absent (`pip install "minigrad[mpi]"`).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distribution_jobs import (MPI_DIR, ROOT, assert_ok, check_kill_and_resume, finish, spawn,
                               wait_for)


def _mpiexec() -> str | None:
    """The mpiexec beside this Python first (the MPICH wheel's, matching mpi4py's MPI)."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason='needs mpi4py and mpiexec: pip install "minigrad[mpi]"')


def mpispawn(script: str, *args: str, n: int = 2, env: dict | None = None
             ) -> subprocess.Popen:
    """`mpiexec -n n python tests/mpi/<script> args`, in a session of its own."""
    return spawn([MPIEXEC, "-n", str(n), sys.executable, str(MPI_DIR / script), *args], env)


def mpirun(script: str, *args: str, n: int = 2, timeout: float = 120,
           env: dict | None = None) -> subprocess.CompletedProcess:
    """`mpiexec -n n python tests/mpi/<script> args`; killed past `timeout` seconds."""
    return finish(mpispawn(script, *args, n=n, env=env), timeout)


def test_allreduce_of_the_flat_buffer_is_the_sum():
    assert_ok(mpirun("collectives.py", "allreduce"), "allreduce")


def test_broadcast_gives_every_rank_rank_0s_arrays_and_objects():
    assert_ok(mpirun("collectives.py", "broadcast"), "broadcast")


def test_equal_signatures_pass():
    assert_ok(mpirun("collectives.py", "same-signature"), "same-signature")


def test_signature_mismatch_fails_on_both_ranks_with_one_message():
    proc = mpirun("collectives.py", "signature", timeout=60)
    assert proc.returncode != 0
    assert "UNREACHED" not in proc.stdout
    for r in (0, 1):
        assert f"rank {r} raised ValueError" in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.count("the processes do not all have the same model") == 2
    assert "rank 1: weights[0][1][1] is 12, rank 0 has 10" in proc.stderr


def test_a_raising_rank_ends_the_job_within_seconds():
    start = time.monotonic()
    proc = mpirun("collectives.py", "raise", timeout=60,
                  env={"TEST_TIMEOUT": "600"})   # the abort ends it, not the timeout
    took = time.monotonic() - start
    assert proc.returncode != 0
    assert "RuntimeError: rank 1 fails mid-epoch" in proc.stderr
    assert "rank 1 raised RuntimeError; aborting all 2 processes" in proc.stderr
    assert "UNREACHED" not in proc.stdout
    assert took < 30, f"the job took {took:.1f} s to end"


@pytest.mark.parametrize("scenario, why", [
    ("timeout", "it is in no collective; its last was #1"),
    ("timeout-holding-the-gil", "not responding: hung, or in a long computation")])
def test_the_collective_timeout_aborts_naming_the_stalled_rank(scenario, why):
    """Rank 1 stays away from the second collective for 60 s (sleeping, or in a
    loop that never lets its watchdog thread answer); rank 0 aborts at 2 s."""
    start = time.monotonic()
    proc = mpirun("collectives.py", scenario, timeout=60, env={"TEST_TIMEOUT": "2"})
    took = time.monotonic() - start
    assert proc.returncode != 0
    assert "UNREACHED" not in proc.stdout
    assert re.search(r"rank 0 waited \d+\.\d s in collective #2 \(allreduce\), past the "
                     r"timeout of 2 s: rank 1 did not reach it \(" + re.escape(why),
                     proc.stderr), proc.stderr[-3000:]
    assert took < 40, f"the job took {took:.1f} s to end"


@pytest.mark.parametrize("override", [False, True])
def test_threads_per_process(override):
    """Default: cores ÷ 2 local processes; MINIGRAD_THREADS_PER_PROCESS overrides it
    (tests/mpi/collectives.py checks Numba's and OpenBLAS's thread counts)."""
    from minigrad.distribution.threads import default_threads
    other = 1 if default_threads(2) != 1 else 2
    if override and other > (os.cpu_count() or 1):
        pytest.skip("one core: no other thread count to set")
    env = {"MINIGRAD_THREADS_PER_PROCESS": str(other)} if override else {}
    assert_ok(mpirun("collectives.py", "threads", env=env), "threads")


# ------------------------------------------------ fit, evaluate, predict (mpi/fit.py)
def test_two_ranks_train_as_one_process_with_the_global_batch(tmp_path):
    """2 ranks x global batch 16 == 1 process x batch 16 after 3 epochs of fit with
    shuffling, dropout and validation (1e-5 relative); bit-identical ranks; the
    logs, evaluate and predict are the whole data's on every rank; batches from a
    generator train as the same arrays do."""
    assert_ok(mpirun("fit.py", "equivalence", str(tmp_path), timeout=300), "equivalence")


def test_the_two_rank_step_is_its_emulation_in_one_process(tmp_path):
    """Each shard's gradient times its share, summed as the Allreduce sums them,
    then the optimizer, in one process: the 2-rank weights, bit for bit."""
    assert_ok(mpirun("fit.py", "emulation", str(tmp_path), timeout=300), "emulation")


def test_fit_with_different_models_fails_at_start_on_both_ranks(tmp_path):
    proc = mpirun("fit.py", "mismatch", str(tmp_path), timeout=120)
    assert proc.returncode != 0
    assert "UNREACHED" not in proc.stdout
    assert proc.stderr.count("the processes do not all have the same model") == 2, \
        proc.stderr[-3000:]
    assert "weights[2][1][1] is 4, rank 0 has 3" in proc.stderr, proc.stderr[-3000:]


def _ends_after_rank_1_stops(tmp_path, scenario: str, timeout: str) -> tuple:
    """Run fit.py `scenario` until rank 1 stops mid-epoch (raises, or sleeps); then
    (the finished job, seconds from that moment to the job's end)."""
    proc = mpispawn("fit.py", scenario, str(tmp_path), env={"TEST_TIMEOUT": timeout})
    wait_for(tmp_path / "ready1", proc)
    start = time.monotonic()
    proc = finish(proc, timeout=60)
    assert proc.returncode != 0
    assert "UNREACHED" not in proc.stdout
    return proc, time.monotonic() - start


def test_a_rank_raising_in_fit_ends_the_job_within_seconds(tmp_path):
    proc, took = _ends_after_rank_1_stops(tmp_path, "raise", "600")   # no timeout: the abort
    assert "RuntimeError: rank 1 fails mid-epoch" in proc.stderr, proc.stderr[-3000:]
    assert "rank 1 raised RuntimeError; aborting all 2 processes" in proc.stderr
    assert took < 15, f"the job took {took:.1f} s to end after the exception"


def test_fit_aborts_when_a_rank_stalls_past_the_timeout(tmp_path):
    proc, took = _ends_after_rank_1_stops(tmp_path, "timeout", "2")
    assert re.search(r"rank 0 waited \d+\.\d s in collective #\d+ \(gradients\), past the "
                     r"timeout of 2 s: rank 1 did not reach it \(it is in no collective",
                     proc.stderr), proc.stderr[-3000:]
    assert took < 20, f"the job took {took:.1f} s to end after the stall"


def test_killed_and_resumed_two_rank_run_is_bit_identical(tmp_path):
    """SIGKILL to the whole job mid-epoch; a new 2-rank job resumes from rank 0's
    checkpoint and ends with the uninterrupted 2-rank run's weights and logs."""
    check_kill_and_resume(
        tmp_path, lambda sc, d: mpispawn("fit.py", sc, str(d), env={"TEST_TIMEOUT": "600"}),
        lambda sc, d: mpirun("fit.py", sc, str(d), timeout=300))


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                    reason="needs numba-cuda (its simulator): the cuda extra")
def test_two_ranks_on_cuda_weights_train_as_on_the_cpu(tmp_path):
    """device="cuda" under the simulator: the gradients staged through the host."""
    assert_ok(mpirun("fit.py", "cuda", str(tmp_path), timeout=300,
                     env={"NUMBA_ENABLE_CUDASIM": "1"}), "cuda")


def test_mnist_example_trains_on_two_processes():
    """`mpiexec -n 2 python examples/mnist.py --distributed`, on 1,024 images:
    it runs, and only rank 0 prints."""
    proc = mpirun(str(ROOT / "examples" / "mnist.py"), "--distributed", "--samples", "1024",
                  "--epochs", "1", "--verbose", "0", timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "1024 training and 10000 test images on 2 processes" in proc.stdout
    assert proc.stdout.count("Test accuracy: ") == 1, proc.stdout
    accuracy = float(re.search(r"Test accuracy: ([0-9.]+)", proc.stdout).group(1))
    assert accuracy > 0.5, proc.stdout   # one epoch on 1,024 images: well above chance

"""minigrad.distribution on processes forked by `initialize(num_processes=2)`: no MPI.

The scenarios are test_distribution_mpi.py's (tests/mpi/*.py), each run as one
plain `python` process that forks the second rank (TEST_LOCAL_PROCESSES=2), so
these run wherever minigrad does: no mpi4py, no launcher. Linux and macOS (fork).
"""
from __future__ import annotations

import os
import re
import signal
import sys
import time

import pytest
from distribution_jobs import (MPI_DIR, ROOT, assert_ok, check_kill_and_resume, finish, spawn,
                               wait_for)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def local(script: str, *args: str, env: dict | None = None):
    """`python tests/mpi/<script> args` with the second rank forked by initialize."""
    return spawn([sys.executable, MPI_DIR / script, *args],
                 {"TEST_LOCAL_PROCESSES": "2", **(env or {})})


def run_local(script: str, *args: str, timeout: float = 120, env: dict | None = None):
    return finish(local(script, *args, env=env), timeout)


@pytest.mark.parametrize("scenario", ["allreduce", "broadcast", "same-signature", "threads"])
def test_collectives(scenario):
    """The flat buffer's Allreduce is the sum bit for bit; broadcasts give rank 0's
    arrays and objects; allgather; each process runs cores ÷ 2 threads."""
    assert_ok(run_local("collectives.py", scenario), scenario)


def test_signature_mismatch_fails_on_both_ranks():
    proc = run_local("collectives.py", "signature", timeout=60)
    assert proc.returncode != 0
    assert "UNREACHED" not in proc.stdout
    for r in (0, 1):
        assert f"rank {r} raised ValueError" in proc.stderr, proc.stderr[-3000:]
    assert "rank 1: weights[0][1][1] is 12, rank 0 has 10" in proc.stderr


def test_a_raising_rank_ends_the_job_naming_it():
    start = time.monotonic()
    proc = run_local("collectives.py", "raise", timeout=60, env={"TEST_TIMEOUT": "600"})
    assert proc.returncode != 0
    assert "RuntimeError: rank 1 fails mid-epoch" in proc.stderr
    assert "rank 1 raised RuntimeError; aborting all 2 processes" in proc.stderr
    assert re.search(r"rank 1 ended \(exit code 1\) while rank 0 waited for it in collective "
                     r"#4 \(allreduce\)", proc.stderr), proc.stderr[-3000:]
    assert "UNREACHED" not in proc.stdout
    assert time.monotonic() - start < 30


def test_the_collective_timeout_aborts_naming_the_stalled_rank():
    """Rank 1 sleeps 60 s before the second collective; rank 0 aborts at 2 s."""
    start = time.monotonic()
    proc = run_local("collectives.py", "timeout", timeout=60, env={"TEST_TIMEOUT": "2"})
    assert proc.returncode != 0
    assert "UNREACHED" not in proc.stdout
    assert re.search(r"rank 0 waited \d+\.\d s in collective #2 \(allreduce\), past the "
                     r"timeout of 2 s: rank 1 did not reach it", proc.stderr), \
        proc.stderr[-3000:]
    assert time.monotonic() - start < 40


def test_two_forked_ranks_train_as_one_process_with_the_global_batch(tmp_path):
    """As under MPI: 3 epochs of fit with shuffling, dropout and validation equal one
    process's (1e-5 relative); bit-identical ranks; evaluate and predict whole."""
    assert_ok(run_local("fit.py", "equivalence", str(tmp_path), timeout=300), "equivalence")


def test_the_two_rank_step_is_its_emulation_in_one_process(tmp_path):
    assert_ok(run_local("fit.py", "emulation", str(tmp_path), timeout=300), "emulation")


def test_fit_with_different_models_fails_at_start_on_both_ranks(tmp_path):
    proc = run_local("fit.py", "mismatch", str(tmp_path), timeout=120)
    assert proc.returncode != 0
    assert "UNREACHED" not in proc.stdout
    assert proc.stderr.count("the processes do not all have the same model") == 2, \
        proc.stderr[-3000:]


def test_a_rank_raising_in_fit_ends_the_job_within_seconds(tmp_path):
    proc = local("fit.py", "raise", str(tmp_path), env={"TEST_TIMEOUT": "600"})
    wait_for(tmp_path / "ready1", proc)
    start = time.monotonic()
    proc = finish(proc, timeout=60)
    assert proc.returncode != 0
    assert "RuntimeError: rank 1 fails mid-epoch" in proc.stderr, proc.stderr[-3000:]
    assert "UNREACHED" not in proc.stdout
    assert time.monotonic() - start < 15


def test_killing_rank_0_ends_rank_1(tmp_path):
    """SIGKILL to rank 0 alone (no chance to clean up) mid-epoch: rank 1 must not live on."""
    proc = local("fit.py", "interrupted", str(tmp_path), env={"TEST_TIMEOUT": "600"})
    wait_for(tmp_path / "ready0", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)   # a process of the job's session still exists
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("rank 1 was still running 10 s after rank 0 was killed")


def test_killed_and_resumed_two_rank_run_is_bit_identical(tmp_path):
    """SIGKILL to the job mid-epoch; a new job resumes from rank 0's checkpoint and ends
    with the uninterrupted run's weights and logs."""
    check_kill_and_resume(
        tmp_path, lambda sc, d: local("fit.py", sc, str(d), env={"TEST_TIMEOUT": "600"}),
        lambda sc, d: run_local("fit.py", sc, str(d), timeout=300))


def _script(tmp_path, body: str, env: dict | None = None):
    path = tmp_path / "script.py"
    path.write_text("import minigrad as mg\n" + body)
    return finish(spawn([sys.executable, path], env), 120)


def test_initialize_after_a_kernel_ran_says_to_call_it_first(tmp_path):
    """Numba's OpenMP threads (NUMBA_THREADING_LAYER=omp; minigrad's default, workqueue,
    survives a fork) do not survive one: a clear error, not killed children."""
    proc = _script(tmp_path, "import numba, numpy as np\n"
                   "@numba.njit(parallel=True)\n"
                   "def double(a):\n"
                   "    for i in numba.prange(a.size):\n"
                   "        a[i] *= 2\n"
                   "try:\n"
                   "    double(np.ones(1000))\n"
                   "except ValueError:   # no OpenMP runtime on this machine\n"
                   "    print('NOT OMP'); raise SystemExit(0)\n"
                   "if numba.threading_layer() != 'omp':\n"
                   "    print('NOT OMP'); raise SystemExit(0)\n"
                   "mg.distribution.initialize(num_processes=2)\n",
                   env={"NUMBA_THREADING_LAYER": "omp"})
    if "NOT OMP" in proc.stdout:
        pytest.skip("Numba has no OpenMP threading layer here")
    assert proc.returncode != 0
    assert "must be called before the first kernel runs" in proc.stderr, proc.stderr[-2000:]


def test_process_id_with_forked_processes_is_refused(tmp_path):
    proc = _script(tmp_path, "mg.distribution.initialize(num_processes=2, process_id=1)\n")
    assert proc.returncode != 0
    assert "leave `process_id` out" in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.count("Traceback") == 1   # refused before forking: one process


def test_a_failed_rank_1_makes_the_job_fail(tmp_path):
    """Rank 1 ends with an error after the last collective: rank 0's exit code says so."""
    proc = _script(tmp_path, "mg.distribution.initialize(num_processes=2)\n"
                   "if mg.distribution.process_id() == 1:\n"
                   "    raise SystemExit(3)\n"
                   "print('rank 0 done')\n")
    assert "rank 0 done" in proc.stdout
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-2000:])
    assert "rank 1 exited with code 3" in proc.stderr


def test_mnist_example_trains_on_two_forked_processes():
    """`python examples/mnist.py --processes 2` on 1,024 images: only rank 0 prints."""
    proc = finish(spawn([sys.executable, ROOT / "examples" / "mnist.py", "--processes", "2",
                         "--samples", "1024", "--epochs", "1", "--verbose", "0"]), 300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "1024 training and 10000 test images on 2 processes" in proc.stdout
    assert proc.stdout.count("Test accuracy: ") == 1, proc.stdout
    accuracy = float(re.search(r"Test accuracy: ([0-9.]+)", proc.stdout).group(1))
    assert accuracy > 0.5, proc.stdout


def test_initialize_with_other_threads_running_refuses_to_fork(tmp_path):
    proc = _script(tmp_path, "import threading, time\n"
                   "threading.Thread(target=time.sleep, args=(30,), daemon=True,"
                   " name='busy').start()\n"
                   "mg.distribution.initialize(num_processes=2)\n")
    assert proc.returncode != 0
    assert "runs other threads (busy)" in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.count("Traceback") == 1   # refused before forking: one process

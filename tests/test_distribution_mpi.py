"""minigrad.distribution across 2 MPI processes on loopback (`mpiexec -n 2`).

Each test runs a scenario of tests/mpi/*.py as a subprocess under mpiexec with
a wall-clock limit, so a hang fails the test instead of the suite. Skipped
cleanly where mpi4py or mpiexec is absent (`pip install "minigrad[mpi]"`).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MPI_DIR = ROOT / "tests" / "mpi"


def _mpiexec() -> str | None:
    """The mpiexec beside this Python first (the MPICH wheel's, matching mpi4py's MPI)."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason='needs mpi4py and mpiexec: pip install "minigrad[mpi]"')


def mpirun(script: str, *args: str, n: int = 2, timeout: float = 120,
           env: dict | None = None) -> subprocess.CompletedProcess:
    """`mpiexec -n n python tests/mpi/<script> args`; killed past `timeout` seconds."""
    full_env = dict(os.environ)
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        full_env.pop(var, None)   # never inherit an outer job's identity
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in [full_env.get("PYTHONPATH")] if p])
    full_env.update(env or {})
    cmd = [MPIEXEC, "-n", str(n), sys.executable, str(MPI_DIR / script), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # mpiexec and the ranks it started
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} hung for {timeout} s:\n{out[-2000:]}\n{err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def assert_ok(proc: subprocess.CompletedProcess, scenario: str, n: int = 2) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for r in range(n):
        assert f"OK {scenario} rank {r}" in proc.stdout, out[-4000:]


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

"""Running a multi-process job from a test: started in a session of its own (so
that a hung job can be killed whole), with a wall-clock limit, so that a hang
fails the test instead of the suite. Used by test_distribution_mpi.py (under
mpiexec) and test_distribution_local.py (processes forked by initialize)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MPI_DIR = ROOT / "tests" / "mpi"


def spawn(cmd: list, env: dict | None = None) -> subprocess.Popen:
    """Start `cmd` at the repository root, minigrad importable, in its own session."""
    full_env = dict(os.environ)
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        full_env.pop(var, None)   # never inherit an outer job's identity
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in [full_env.get("PYTHONPATH")] if p])
    full_env.update(env or {})
    return subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    """Wait for a job from `spawn`; past `timeout` seconds kill it and fail."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # the launcher and every rank
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(proc.args)} hung for {timeout} s:\n{out[-2000:]}\n"
                    f"{err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_ok(proc: subprocess.CompletedProcess, scenario: str, n: int = 2) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for r in range(n):
        assert f"OK {scenario} rank {r}" in proc.stdout, out[-4000:]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Wait until the job writes `path` (fail if it ends first, or never does)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the job ended before writing {path.name}:\n{out[-2000:]}\n"
                        f"{err[-2000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"the job never wrote {path.name}")
        time.sleep(0.02)


def check_kill_and_resume(tmp_path: Path, start, run) -> None:
    """tests/mpi/fit.py's resume scenario: an uninterrupted job; a job SIGKILLed whole
    mid-epoch after rank 0's checkpoint of epoch 1; a new job resuming from it must
    end with the uninterrupted job's weights and logs, bit for bit. `start(scenario,
    folder)` starts a job (a Popen), `run(scenario, folder)` runs one to its end."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir(), cut.mkdir()
    assert_ok(run("full", full), "full")
    interrupted = start("interrupted", cut)
    wait_for(cut / "ready0", interrupted)
    os.killpg(interrupted.pid, signal.SIGKILL)           # the whole job, like a crash
    interrupted.communicate(timeout=30)
    assert not (cut / "final.npz").exists()
    with np.load(cut / "ckpt.npz") as f:
        assert json.loads(bytes(f["config"]).decode())["epoch"] == 1
    assert_ok(run("resume", cut), "resume")
    with np.load(full / "final.npz") as a, np.load(cut / "final.npz") as b:
        assert len(a.files) == len(b.files) == 4
        for k in a.files:
            assert np.array_equal(a[k], b[k]), f"weight {k} differs after resuming"
    h_full = json.loads((full / "history.json").read_text())
    h_cut = json.loads((cut / "history.json").read_text())
    assert h_cut["epoch"] == [1, 2]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert h_cut[key] == h_full[key][1:], key

"""minigrad.distribution in one process: Keras 3's names, the flat gradient
buffer, and what happens without mpiexec or without mpi4py (no MPI needed)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import distribution as dist
from minigrad.distribution import process_group

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_distribution():
    """Each test starts before initialize(), with no distribution set."""
    saved = process_group._group, dist.distribution()
    process_group.set_group(None)
    dist.set_distribution(None)
    yield
    process_group.set_group(saved[0])
    dist.set_distribution(saved[1])


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items()
            if k not in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")}
    full["PYTHONPATH"] = str(ROOT)
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120)


# ------------------------------------------------------------ one process
def test_alone_initialize_is_one_process_and_imports_no_mpi():
    proc = run_python(
        "import sys, minigrad as mg\n"
        "d = mg.distribution\n"
        "assert d.num_processes() == 1 and d.process_id() == 0\n"
        "d.initialize()\n"
        "assert d.num_processes() == 1 and d.process_id() == 0\n"
        "assert d.list_devices() == ['cpu:0'] and d.list_devices('gpu') == ['gpu:0']\n"
        "d.set_distribution(d.DataParallel())\n"
        "assert isinstance(d.distribution(), d.DataParallel)\n"
        "assert 'mpi4py' not in sys.modules, 'mpi4py imported without a launcher'\n"
        "assert sys.excepthook is sys.__excepthook__\n"
        "print('fine')\n")
    assert proc.returncode == 0 and "fine" in proc.stdout, proc.stderr


def test_launched_without_mpi4py_warns_and_DataParallel_names_the_extra():
    """Under mpiexec -n 2 but with no mpi4py: initialize() is one process (with a
    warning); DataParallel() raises ImportError naming `pip install "minigrad[mpi]"`."""
    proc = run_python(
        "import sys, warnings\n"
        "sys.modules['mpi4py'] = None   # as if not installed\n"
        "import minigrad as mg\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    mg.distribution.initialize()\n"
        "assert mg.distribution.num_processes() == 1\n"
        "assert any('mpi4py is not installed' in str(x.message) for x in w), w\n"
        "try:\n"
        "    mg.distribution.DataParallel()\n"
        "except ImportError as e:\n"
        "    print('ImportError:', e)\n",
        env={"PMI_SIZE": "2", "PMI_RANK": "0"})
    assert proc.returncode == 0, proc.stderr
    assert 'ImportError: DataParallel: this job has 2 processes, which need mpi4py to train ' \
           'together: pip install "minigrad[mpi]"' in proc.stdout, proc.stdout + proc.stderr


def test_DataParallel_initializes_on_its_own():
    dp = dist.DataParallel()
    assert dist.num_processes() == 1 and process_group._group is not None
    assert dp.num_processes == 1 and dp.process_id == 0
    assert dp.device_mesh.shape == (1,) and dp.device_mesh.axis_names == ["batch"]
    assert dp.device_mesh.devices.tolist() == ["cpu:0"]
    with dp.scope():
        assert dist.distribution() is dp
    assert dist.distribution() is None


def test_bad_arguments_are_clear_errors(monkeypatch):
    # (started alone, num_processes=2 forks: test_distribution_local.py, in a subprocess)
    monkeypatch.setenv("PMI_SIZE", "3")   # as if mpiexec -n 3 had started this process
    with pytest.raises(ValueError, match=r"initialize\(num_processes=2\): this job has 3 "
                                         r"processes, started by MPI; run `mpiexec -n 2 "
                                         r"python script.py`"):
        dist.initialize(num_processes=2)
    monkeypatch.delenv("PMI_SIZE")
    with pytest.raises(ValueError, match="`timeout` must be a positive number of seconds"):
        dist.initialize(timeout=0)
    with pytest.raises(ValueError, match="`timeout` must be a positive"):
        dist.initialize(timeout=float("nan"))
    with pytest.raises(ValueError, match="`threads` must be a positive int"):
        dist.initialize(threads=0)
    with pytest.raises(ValueError, match=r"initialize\(process_id=1\): this process is rank 0"):
        dist.initialize(process_id=1)
    with pytest.raises(TypeError, match="set_distribution: expected a minigrad.distribution"):
        dist.set_distribution("data_parallel")
    with pytest.raises(ValueError, match="one device per process; the mesh has 2 devices"):
        dist.DataParallel(devices=["cpu:0", "cpu:1"])
    with pytest.raises(ValueError, match="auto_shard_dataset=False"):
        dist.DataParallel(auto_shard_dataset=False)
    with pytest.raises(ValueError, match="Shape and axis_names should have same size"):
        dist.DeviceMesh((1,), ["batch", "model"])
    with pytest.raises(ValueError, match="`device_type` must be 'cpu' or 'gpu'"):
        dist.list_devices("tpu")


def test_a_second_initialize_changes_only_a_given_timeout(monkeypatch):
    monkeypatch.delenv(process_group.TIMEOUT_ENV, raising=False)
    dist.initialize(timeout=5)
    assert dist.group().timeout == 5
    dist.initialize()
    assert dist.group().timeout == 5
    dist.initialize(timeout=9)
    assert dist.group().timeout == 9


def test_timeout_from_the_environment(monkeypatch):
    check = process_group.check_timeout
    monkeypatch.delenv(process_group.TIMEOUT_ENV, raising=False)
    assert check(None) == process_group.DEFAULT_TIMEOUT
    assert check(2.5) == 2.5 and check(math.inf) is None
    monkeypatch.setenv(process_group.TIMEOUT_ENV, "7")
    assert check(None) == 7.0
    monkeypatch.setenv(process_group.TIMEOUT_ENV, "0")
    assert check(None) is None
    monkeypatch.setenv(process_group.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="MINIGRAD_DISTRIBUTION_TIMEOUT must be a number"):
        check(None)


def test_one_process_collectives_are_the_identity():
    g = dist.group()
    buf = np.arange(3.0)
    assert g.allreduce_(buf) is buf and buf.tolist() == [0, 1, 2]
    assert g.broadcast_object({"a": 1}) == {"a": 1}
    assert g.allgather_object(5) == [5]
    from minigrad.distribution import sync
    sync.check_same(g, {"weights": [[1, 2]]})   # alone: nothing to differ from
    got = sync.broadcast_arrays(g, [np.ones(2, "f4")])
    assert got[0].dtype == np.float32 and got[0].tolist() == [1, 1]


# ----------------------------------------------------------- the flat buffer
def weights(*shapes, dtype="float32"):
    return [mg.Tensor(np.zeros(s, dtype), requires_grad=True) for s in shapes]


def test_flat_buffer_is_one_array_with_a_view_per_weight():
    buf = dist.FlatBuffer(weights((3, 2), (2,), (1, 1, 2, 3)), extra=2)
    assert buf.host.shape == (6 + 2 + 6 + 3 + 2,) and buf.host.flags.c_contiguous
    assert [v.shape for v in buf.views] == [(3, 2), (2,), (1, 1, 2, 3)]
    assert all(np.shares_memory(v, buf.host) for v in buf.views)
    assert buf.nbytes == buf.host.size * 4
    g = [np.arange(6, dtype="f4").reshape(3, 2), None, np.full((1, 1, 2, 3), 2, "f4")]
    buf.collect(g, scale=0.5)
    buf.allreduce(dist.group())
    out = buf.gradients()
    np.testing.assert_array_equal(out[0], g[0] * np.float32(0.5))
    assert out[1] is None
    np.testing.assert_array_equal(out[2], np.ones((1, 1, 2, 3), "f4"))
    assert buf.flags.tolist() == [1, 0, 1]
    # a strided gradient (a transposed view) is copied the same way
    buf.collect([np.arange(6, dtype="f4").reshape(2, 3).T, np.ones(2, "f4"), g[2]])
    np.testing.assert_array_equal(buf.views[0], np.arange(6, dtype="f4").reshape(2, 3).T)


def test_flat_buffer_rejects_mixed_dtypes_and_wrong_counts():
    with pytest.raises(ValueError, match=r"one dtype and one device .* \['float32', "
                                         r"'float64'\]"):
        dist.FlatBuffer(weights((2,)) + weights((2,), dtype="float64"))
    buf = dist.FlatBuffer(weights((2,)))
    with pytest.raises(ValueError, match="expected 1 gradients, got 2"):
        buf.collect([np.ones(2, "f4"), np.ones(2, "f4")])


# ------------------------------------------- dropout keyed on the global batch
@pytest.mark.parametrize("layer", ["dropout", "spatial", "attention"])
def test_dropout_masks_of_shards_are_the_whole_batch_masks(layer):
    """Under `batch_shard(lo, n)` a shard's masks (forward and backward) are rows
    lo... of the whole batch's: two processes draw what one draws."""
    from minigrad import layers as L
    x = np.random.default_rng(3).standard_normal((6, 4, 4, 8)).astype("f4")

    def run(rows, shard):
        mg.random.seed(5)
        fn = {"dropout": L.Dropout(0.5), "spatial": L.SpatialDropout2D(0.5),
              "attention": L.MultiHeadAttention(2, 4, dropout=0.5)}[layer]
        t = mg.Tensor(x[rows], requires_grad=True)
        with mg.random.batch_shard(*shard):
            y = fn(t, t, training=True) if layer == "attention" else fn(t, training=True)
            (y * y).sum().backward()
        return y.numpy(), t.grad.numpy()

    mg.random.seed(0)   # the same initial weights for every MultiHeadAttention
    whole = run(slice(0, 6), (0, 0))
    parts = [run(slice(lo, hi), (lo, hi - lo)) for lo, hi in ((0, 2), (2, 6))]
    # Attention's float32 matmuls round differently on fewer rows (1.7e-5 relative
    # seen on one machine); a wrong mask would differ by 100% (a zero or a 2x).
    for i in range(2):
        np.testing.assert_allclose(np.concatenate([p[i] for p in parts]), whole[i],
                                   rtol=1e-4 if layer == "attention" else 0, atol=0)

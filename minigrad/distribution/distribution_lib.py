"""Keras 3's `keras.distribution` names, for data parallelism over MPI processes.

```python
mg.distribution.initialize()            # under mpiexec: join the MPI job; alone: 1 process
mg.distribution.set_distribution(mg.distribution.DataParallel())
model.fit(x, y, batch_size=128)         # batch_size is the global batch
```

Where minigrad differs from Keras (whose distribution runs on JAX):
- the processes are started by an MPI launcher (`mpiexec -n 4 python train.py`,
  a hostfile across machines), not by `initialize`'s `job_addresses`, which is
  accepted and not used; `num_processes`/`process_id`, when given, are checked
  against the launcher's; started alone, `initialize(num_processes=N)` forks
  N processes on this machine instead (local_group.py);
- one device per process: `list_devices()` names each process's device, and
  a `DataParallel` mesh has exactly one device per process;
- `initialize` takes `timeout` (seconds a collective may wait before the job
  aborts naming the rank it waited for) and `threads` (Numba/BLAS threads per
  process; default cores ÷ processes on the machine);
- `DataParallel(auto_shard_dataset=False)` is not supported: `fit` shards the
  NumPy arrays it is given itself.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import numpy as np

from . import process_group as pg
from . import threads as threads_mod

DEFAULT_BATCH_DIM_NAME = "batch"
MPI_EXTRA = 'pip install "minigrad[mpi]"'
_distribution = None


def initialize(job_addresses: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, timeout: float | None = None,
               threads: int | None = None) -> None:
    """Join the MPI job this process was launched in (`mpiexec -n N python ...`),
    or, started alone with `num_processes=N` > 1, fork N - 1 copies of this
    process here: each runs the rest of the script as one rank, as under mpiexec
    (no MPI needed; local_group.py). Call it at the top of the script, before
    the first kernel runs.

    Started alone without `num_processes` (or without mpi4py installed), this is
    one process and everything works as without it. Under MPI it also makes an
    uncaught exception on any process abort the whole job, and sets each
    process's Numba/BLAS threads to `threads` (default: the machine's cores ÷
    the processes on it; MINIGRAD_THREADS_PER_PROCESS overrides). `timeout`
    (seconds; default MINIGRAD_DISTRIBUTION_TIMEOUT or 600; math.inf: none) is
    how long a collective waits before the job aborts, naming the rank(s)
    that did not arrive. Calling it again changes only `timeout`.
    """
    del job_addresses  # MPI's launcher (and its hostfile) places the processes
    if pg._group is not None and timeout is None:
        return
    timeout = pg.check_timeout(timeout)
    for value, arg in ((num_processes, "num_processes"), (process_id, "process_id"),
                       (threads, "threads")):
        if value is not None and (isinstance(value, bool) or not isinstance(
                value, (int, np.integer)) or value < (0 if arg == "process_id" else 1)):
            raise ValueError(f"initialize: `{arg}` must be a "
                             f"{'non-negative' if arg == 'process_id' else 'positive'} int, "
                             f"got {value!r}")
    if pg._group is not None:
        pg._group.timeout = timeout
        return
    launched = pg.launcher_size()
    local = launched == 1 and num_processes is not None and num_processes > 1
    if num_processes is not None and num_processes != launched and not local:
        raise ValueError(f"initialize(num_processes={num_processes}): this job has {launched} "
                         f"process{'es' if launched != 1 else ''}, started by MPI; run "
                         f"`mpiexec -n {num_processes} python script.py`, or start the script "
                         f"alone to have initialize fork the processes")
    if local and process_id is not None:
        raise ValueError(f"initialize(num_processes={num_processes}, process_id="
                         f"{process_id}): started alone, initialize forks the processes and "
                         f"numbers them itself; leave `process_id` out")
    group = pg.ProcessGroup()
    if local:
        from .local_group import LocalGroup
        group = LocalGroup(int(num_processes), timeout)
    elif launched > 1:
        try:
            from mpi4py import MPI
        except ImportError:
            warnings.warn(f"minigrad.distribution.initialize: started as {launched} processes "
                          f"but mpi4py is not installed, so each process trains on its own "
                          f"({MPI_EXTRA})", RuntimeWarning, stacklevel=2)
        else:
            group = pg.MPIGroup(MPI.COMM_WORLD, timeout)
    group.timeout = timeout
    if process_id is not None and process_id != group.rank:
        raise ValueError(f"initialize(process_id={process_id}): this process is rank "
                         f"{group.rank} of the MPI job")
    if group.size > 1:
        sys.excepthook = group.abort_on_exception
        env = os.environ.get(pg.THREADS_ENV)
        if threads is None and env:
            if not env.isdigit() or int(env) < 1:
                raise ValueError(f"{pg.THREADS_ENV} must be a positive int, got {env!r}")
            threads = int(env)
        threads_mod.set_threads(threads or threads_mod.default_threads(group.local_size))
    pg.set_group(group)


def num_processes() -> int:
    """How many processes train together (1 before `initialize`, or alone)."""
    return pg.group().size


def process_id() -> int:
    """This process's rank, 0 to num_processes() - 1; rank 0 prints and saves."""
    return pg.group().rank


def list_devices(device_type: str | None = None) -> list:
    """One device per process, `"cpu:0"` ... (or `"gpu:i"`), as Keras names them."""
    if device_type is None:
        from ..backends import default_device
        device_type = "gpu" if default_device() == "cuda" else "cpu"
    kind = str(device_type).lower()
    if kind not in ("cpu", "gpu", "cuda"):
        raise ValueError(f"list_devices: `device_type` must be 'cpu' or 'gpu', got "
                         f"{device_type!r}")
    kind = "gpu" if kind == "cuda" else kind
    return [f"{kind}:{i}" for i in range(num_processes())]


class DeviceMesh:
    """The devices a distribution runs on, as Keras's: a `shape`, `axis_names`, `devices`."""

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError(f"Shape and axis_names cannot be empty. Received: shape={shape}, "
                             f"axis_names={axis_names}")
        if len(shape) != len(axis_names):
            raise ValueError(f"Shape and axis_names should have same size. Received: "
                             f"shape={shape}, axis_names={axis_names}")
        devices = np.array(list_devices() if devices is None else devices)
        if np.prod(shape) != devices.size:
            raise ValueError(f"Shape does not match the number of devices. Received: "
                             f"shape={shape}; devices.shape={devices.shape}")
        self.shape, self.axis_names = tuple(shape), list(axis_names)
        self.devices = devices.reshape(shape)

    def __repr__(self) -> str:
        return f"<DeviceMesh shape={self.shape}, axis_names={self.axis_names}>"


class Distribution:
    """A way to spread training over devices (Keras's base class)."""

    def __init__(self, device_mesh: DeviceMesh):
        self.device_mesh = device_mesh

    @contextlib.contextmanager
    def scope(self):
        """Make this the current distribution inside the block."""
        previous = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} device_mesh={self.device_mesh}>"


class DataParallel(Distribution):
    """Data parallelism: every process holds the whole model and trains on its shard
    of each global batch; gradients are summed across processes every step.

    Its processes are those of `initialize`: an MPI job (mpi4py: `pip install
    "minigrad[mpi]"`), or processes forked on this machine by
    `initialize(num_processes=N)`; `initialize()` is called for you if it was not yet.
    """

    def __init__(self, device_mesh: DeviceMesh | None = None, devices=None,
                 auto_shard_dataset: bool = True):
        if not auto_shard_dataset:
            raise ValueError("DataParallel(auto_shard_dataset=False) is not supported: "
                             "minigrad's fit shards the arrays it is given itself")
        if pg._group is None:
            initialize()
        if pg.launcher_size() > 1 and num_processes() == 1:
            raise ImportError(f"DataParallel: this job has {pg.launcher_size()} processes, "
                              f"which need mpi4py to train together: {MPI_EXTRA}")
        if device_mesh is not None:
            if not isinstance(device_mesh, DeviceMesh):
                raise ValueError(f"Expect `mesh` to be an instance of `DeviceMesh`. Received: "
                                 f"mesh={device_mesh} (of type {type(device_mesh)})")
        else:
            devices = list_devices() if not devices else list(devices)
            device_mesh = DeviceMesh((len(devices),), [DEFAULT_BATCH_DIM_NAME], devices)
        if device_mesh.devices.size != num_processes():
            raise ValueError(f"DataParallel: minigrad runs one device per process; the mesh "
                             f"has {device_mesh.devices.size} devices for {num_processes()} "
                             f"process(es)")
        super().__init__(device_mesh)
        self.batch_dim_name = device_mesh.axis_names[0]
        self.group = pg.group()
        # what fit's gradient Allreduce cost so far (benchmarks/distributed.py reads it)
        self.stats = {"steps": 0, "allreduce_seconds": 0.0, "bytes_per_step": 0}

    @property
    def num_processes(self) -> int:
        return self.group.size

    @property
    def process_id(self) -> int:
        return self.group.rank


def writes_files() -> bool:
    """Whether this process writes checkpoints and logs: under a distribution only
    rank 0 does (the others would write the same files)."""
    return _distribution is None or pg.group().rank == 0


def distribution() -> Distribution | None:
    """The current distribution (None: each process trains on its own)."""
    return _distribution


def set_distribution(value: Distribution | None) -> None:
    """Set the distribution `fit`, `evaluate` and `predict` use."""
    global _distribution
    if value is not None and not isinstance(value, Distribution):
        raise TypeError(f"set_distribution: expected a minigrad.distribution.Distribution "
                        f"such as DataParallel(), got {type(value).__name__}")
    _distribution = value

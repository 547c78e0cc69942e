"""The group of processes a job runs as: one alone, or an MPI job under mpiexec.

`ProcessGroup` is one process (every collective is the identity), `MPIGroup`
the MPI job. Both have the same methods, so the trainer never asks which it
has. MPI's collectives here never block for ever: each is started
non-blocking and polled; past the timeout, the waiting rank asks the others
where they are, names the ranks that did not reach the collective, and aborts
the whole job. An uncaught exception on any rank aborts the whole job too
(`comm.Abort`), instead of leaving the other ranks waiting in a collective.

mpi4py is imported only here, and only when a launcher started the process.
"""
from __future__ import annotations

import math
import os
import pickle
import sys
import time
import traceback

import numpy as np

TIMEOUT_ENV = "MINIGRAD_DISTRIBUTION_TIMEOUT"
THREADS_ENV = "MINIGRAD_THREADS_PER_PROCESS"
DEFAULT_TIMEOUT = 600.0   # seconds; PyTorch's NCCL default watchdog is 10 minutes too
ABORT_CODE = 1
_QUERY, _REPLY = 0x6D67, 0x6D68   # point-to-point tags of the "where are you?" exchange
_GRACE = 3.0                      # seconds a timed-out rank waits for the others' replies


class ProcessGroup:
    """One process: rank 0 of 1. Collectives return their input."""

    rank, size, local_rank, local_size = 0, 1, 0, 1
    timeout: float | None = None

    def allreduce_(self, buf: np.ndarray, what: str = "allreduce") -> np.ndarray:
        """Sum `buf` over the processes, in place."""
        return buf

    def broadcast_(self, buf: np.ndarray, root: int = 0, what: str = "broadcast"
                   ) -> np.ndarray:
        """Overwrite `buf` with the root's, in place."""
        return buf

    def broadcast_object(self, obj, root: int = 0, what: str = "broadcast"):
        """The root's picklable object, on every process."""
        return obj

    def allgather_object(self, obj, what: str = "allgather") -> list:
        """Every process's picklable object, in rank order, on every process."""
        return [obj]

    def barrier(self, what: str = "barrier") -> None:
        pass

    def abort(self, message: str, code: int = ABORT_CODE) -> None:
        """End the job: print `message` and exit (MPI: every process)."""
        print(message, file=sys.stderr, flush=True)
        os._exit(code)


class MPIGroup(ProcessGroup):
    """The processes of an MPI job (mpi4py), on a communicator of their own."""

    def __init__(self, comm, timeout: float | None):
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = comm.Dup()           # minigrad's traffic never meets the user's
        self._abort_comm = comm.Dup()    # only ranks that are failing meet here
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self.timeout = timeout
        self._seq, self._current = 0, None   # the collective this rank is in, if any

    # ------------------------------------------------------------ collectives
    def allreduce_(self, buf, what="allreduce"):
        self._run(lambda: self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM), what)
        return buf

    def broadcast_(self, buf, root=0, what="broadcast"):
        self._run(lambda: self.comm.Ibcast(buf, root=root), what)
        return buf

    def broadcast_object(self, obj, root=0, what="broadcast"):
        data = np.frombuffer(pickle.dumps(obj), np.uint8) if self.rank == root else None
        n = np.array([0 if data is None else data.size], np.int64)
        self.broadcast_(n, root, what)
        buf = data.copy() if data is not None else np.empty(int(n[0]), np.uint8)
        self.broadcast_(buf, root, what)
        return obj if self.rank == root else pickle.loads(buf.tobytes())

    def allgather_object(self, obj, what="allgather"):
        data = np.frombuffer(pickle.dumps(obj), np.uint8)
        sizes = np.empty(self.size, np.int64)
        self._run(lambda: self.comm.Iallgather(np.array([data.size], np.int64), sizes), what)
        out = np.empty(int(sizes.sum()), np.uint8)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._run(lambda: self.comm.Iallgatherv(
            data, [out, (sizes.tolist(), offsets.tolist()), self.MPI.BYTE]), what)
        return [pickle.loads(out[o:o + s].tobytes()) for o, s in zip(offsets, sizes)]

    def barrier(self, what="barrier"):
        self._run(self.comm.Ibarrier, what)

    # ---------------------------------------------------- waiting with a timeout
    def _run(self, start, what: str) -> None:
        """Start a non-blocking collective and wait for it, at most `timeout` s."""
        self._seq += 1
        self._current = what
        request = start()
        began = time.monotonic()
        spin_until = began + 1e-3   # spin first, as a blocking MPI wait would
        pause = 50e-6
        while not request.Test():
            now = time.monotonic()
            if now < spin_until:
                continue
            self._answer_queries()
            if self.timeout is not None and now - began > self.timeout:
                self._stalled(what, now - began)
            time.sleep(pause)   # then sleep, so a rank that waits long frees its core
            pause = min(2 * pause, 1e-3)
        self._current = None

    def _answer_queries(self) -> None:
        status = self.MPI.Status()
        while self.comm.Iprobe(source=self.MPI.ANY_SOURCE, tag=_QUERY, status=status):
            self.comm.Recv(np.empty(1, np.int64), source=status.Get_source(), tag=_QUERY)
            waiting = self._current is not None
            self.comm.Send(np.array([self._seq, waiting], np.int64),
                           dest=status.Get_source(), tag=_REPLY)

    def _stalled(self, what: str, waited: float) -> None:
        """Ask every other rank where it is; abort the job naming those not here."""
        others = [r for r in range(self.size) if r != self.rank]
        replies = {r: np.full(2, -1, np.int64) for r in others}
        recvs = {r: self.comm.Irecv(replies[r], source=r, tag=_REPLY) for r in others}
        for r in others:
            self.comm.Send(np.array([self._seq], np.int64), dest=r, tag=_QUERY)
        deadline = time.monotonic() + _GRACE
        while time.monotonic() < deadline and not all(q.Test() for q in recvs.values()):
            self._answer_queries()   # others may be asking us at the same moment
            time.sleep(1e-3)
        absent = []
        for r in others:
            seq, waiting = replies[r]
            if seq < 0:
                absent.append(f"rank {r} did not reach it (not responding: busy outside "
                              f"minigrad's collectives, or hung)")
            elif not waiting or seq != self._seq:
                absent.append(f"rank {r} did not reach it (it is "
                              f"{'waiting in' if waiting else 'past'} collective #{seq})")
        self.abort(f"minigrad.distribution: rank {self.rank} waited {waited:.1f} s in "
                   f"collective #{self._seq} ({what}), past the timeout of {self.timeout:g} s: "
                   f"{'; '.join(absent) or 'every rank reached it, yet it did not complete'}"
                   f". Aborting the job (set the timeout with "
                   f"minigrad.distribution.initialize(timeout=...) or {TIMEOUT_ENV}).")

    # ------------------------------------------------------------------ abort
    def abort(self, message: str, code: int = ABORT_CODE) -> None:
        print(message, file=sys.stderr, flush=True)
        self.comm.Abort(code)

    def abort_on_exception(self, exc_type, exc, tb) -> None:
        """sys.excepthook: the traceback, then the whole job ends (not just this rank).

        Ranks failing together (a mismatch every rank sees) meet at a barrier of
        their own first, for up to a second, so that each prints its error
        before the first abort ends them all."""
        sys.stderr.write(f"[rank {self.rank}] " +
                         "".join(traceback.format_exception(exc_type, exc, tb)))
        sys.stderr.flush()
        request = self._abort_comm.Ibarrier()
        deadline = time.monotonic() + 1.0
        while not request.Test() and time.monotonic() < deadline:
            time.sleep(1e-3)
        self.abort(f"minigrad.distribution: rank {self.rank} raised {exc_type.__name__}; "
                   f"aborting all {self.size} processes")


# ------------------------------------------------------------------ the group
_group: ProcessGroup | None = None


def group() -> ProcessGroup:
    """The group `initialize()` joined; one process before it is called."""
    return _group if _group is not None else ProcessGroup()


def set_group(value: ProcessGroup | None) -> None:
    global _group
    _group = value


def launcher_size() -> int:
    """How many processes the MPI launcher started (1 when none did)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


def check_timeout(timeout, where: str = "initialize") -> float | None:
    """None (wait for ever) or a positive number of seconds; the env var if not given."""
    if timeout is None:
        env = os.environ.get(TIMEOUT_ENV)
        if env is None:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(env)
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {env!r}") from None
        return None if timeout <= 0 else timeout   # 0 or less: no timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
            not timeout > 0 or math.isnan(timeout):
        raise ValueError(f"{where}: `timeout` must be a positive number of seconds (or "
                         f"math.inf for none), got {timeout!r}")
    return None if math.isinf(timeout) else float(timeout)

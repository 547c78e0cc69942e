"""The group of processes a job runs as: one alone, or an MPI job under mpiexec.

`ProcessGroup` is one process (every collective is the identity), `MPIGroup`
the MPI job. Both have the same methods, so the trainer never asks which it
has. MPI's collectives here are MPI's own blocking calls, timed by a watchdog
thread: past the timeout, it asks the other ranks where they are, names the
ranks that did not reach the collective, and aborts the whole job. An
uncaught exception on any rank aborts the whole job too (`comm.Abort`),
instead of leaving the other ranks waiting in a collective.

mpi4py is imported only here, and only when a launcher started the process.
"""
from __future__ import annotations

import atexit
import math
import os
import pickle
import sys
import threading
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
        # the collective the main thread is in: its number, name and start time
        self._seq, self._current, self._since = 0, None, 0.0
        self._watchdog = Watchdog(self)

    # ------------------------------------------------------------ collectives
    def allreduce_(self, buf, what="allreduce"):
        self._run(lambda: self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM), what)
        return buf

    def broadcast_(self, buf, root=0, what="broadcast"):
        self._run(lambda: self.comm.Bcast(buf, root=root), what)
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
        self._run(lambda: self.comm.Allgather(np.array([data.size], np.int64), sizes), what)
        out = np.empty(int(sizes.sum()), np.uint8)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._run(lambda: self.comm.Allgatherv(
            data, [out, (sizes.tolist(), offsets.tolist()), self.MPI.BYTE]), what)
        return [pickle.loads(out[o:o + s].tobytes()) for o, s in zip(offsets, sizes)]

    def barrier(self, what="barrier"):
        self._run(self.comm.Barrier, what)

    def _run(self, collective, what: str) -> None:
        """Run a blocking collective, marked as the one this rank is in, so that the
        watchdog can time it (MPI's own blocking wait: no polling overhead)."""
        self._seq += 1
        self._since = time.monotonic()
        self._current = what
        try:
            collective()
        finally:
            self._current = None

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


class Watchdog:
    """A daemon thread per process that (1) answers the other ranks' "where are
    you?" queries with the collective this process is in, and (2) when this
    process has waited in one past the timeout, asks every other rank, names
    those that did not reach it, and aborts the job. Its MPI calls run beside
    the main thread's, which MPI_THREAD_MULTIPLE allows (MPICH provides it)."""

    def __init__(self, group: MPIGroup):
        self.group = group
        MPI = group.MPI
        self.can_ask = MPI.Query_thread() == MPI.THREAD_MULTIPLE
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="minigrad-mpi-watchdog",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.stop)   # before mpi4py's MPI_Finalize (atexit runs LIFO)

    def stop(self) -> None:
        self._stop = True
        self._thread.join()

    def _loop(self) -> None:
        g = self.group
        while not self._stop:
            time.sleep(0.05 if g.timeout is None else min(0.05, g.timeout / 8))
            if self.can_ask:
                self._answer_queries()
            what = g._current
            if what is not None and g.timeout is not None and \
                    time.monotonic() - g._since > g.timeout:
                self._stalled(what, time.monotonic() - g._since)

    def _answer_queries(self) -> None:
        g, status = self.group, self.group.MPI.Status()
        while g.comm.Iprobe(source=g.MPI.ANY_SOURCE, tag=_QUERY, status=status):
            g.comm.Recv(np.empty(1, np.int64), source=status.Get_source(), tag=_QUERY)
            g.comm.Send(np.array([g._seq, g._current is not None], np.int64),
                        dest=status.Get_source(), tag=_REPLY)

    def _stalled(self, what: str, waited: float) -> None:
        """Ask every other rank where it is; abort the job naming those not here."""
        g = self.group
        seq = g._seq
        absent = [] if self.can_ask else ["(this MPI library does not allow asking "
                                          "the other ranks where they are)"]
        if self.can_ask:
            others = [r for r in range(g.size) if r != g.rank]
            replies = {r: np.full(2, -1, np.int64) for r in others}
            recvs = [g.comm.Irecv(replies[r], source=r, tag=_REPLY) for r in others]
            for r in others:
                g.comm.Send(np.array([seq], np.int64), dest=r, tag=_QUERY)
            deadline = time.monotonic() + _GRACE
            while time.monotonic() < deadline and not all(q.Test() for q in recvs):
                self._answer_queries()   # others may be asking us at the same moment
                time.sleep(1e-3)
            for r in others:
                their_seq, waiting = replies[r]
                if their_seq < 0:
                    absent.append(f"rank {r} did not reach it (not responding: hung, or in "
                                  f"a long computation that holds Python's lock)")
                elif not waiting:
                    absent.append(f"rank {r} did not reach it (it is in no collective; its "
                                  f"last was #{their_seq})")
                elif their_seq < seq:
                    absent.append(f"rank {r} did not reach it (it waits in collective "
                                  f"#{their_seq})")
                elif their_seq > seq:
                    absent.append(f"rank {r} is ahead, in collective #{their_seq}")
        g.abort(f"minigrad.distribution: rank {g.rank} waited {waited:.1f} s in "
                f"collective #{seq} ({what}), past the timeout of {g.timeout:g} s: "
                f"{'; '.join(absent) or 'every rank reached it, yet it did not complete'}"
                f". Aborting the job (set the timeout with "
                f"minigrad.distribution.initialize(timeout=...) or {TIMEOUT_ENV}).")


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

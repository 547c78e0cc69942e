"""Processes on one machine without an MPI launcher: `initialize(num_processes=N)`.

`LocalGroup` forks N - 1 copies of the calling process at that moment; from
there every process runs the rest of the script as one rank of the job, as
under `mpiexec -n N` (rank 0 is the process that was started, the only one
that writes files; every rank prints). The collectives go through rank 0 over
Unix socket pairs: each rank sends its part to rank 0, which sums (in rank
order, so every rank gets the same bits) or gathers, and sends the result
back. No MPI, no mpi4py: the standard library only.

Why processes and not threads: two processes of one thread each trained the
MNIST convnet 12-42% faster than one process of two threads on a 2-core VM
(benchmarks/README.md, "Processes"), while two replicas in two threads of one
process gained nothing.

It fails instead of hanging: a rank that ends (crashes, raises) closes its
sockets, and whoever waits for it aborts the job naming it; a collective that
waits past the timeout aborts naming the rank it waits for; an uncaught
exception on any rank ends every rank; children die with rank 0 (Linux).
"""
from __future__ import annotations

import atexit
import os
import pickle
import signal
import socket
import struct
import sys
import time
import traceback
import zlib

import numpy as np

from ..backends.forking import die_with_parent, fork_hazard
from .process_group import ABORT_CODE, ProcessGroup

_HEADER = struct.Struct("<qqI")   # collective number, payload bytes, crc32 of its name
_GRACE = 1.0   # seconds an aborting rank 0 lets the others print their own errors


class LocalGroup(ProcessGroup):
    """This process and `size - 1` forks of it, as ranks 0 ... size - 1."""

    def __init__(self, size: int, timeout: float | None):
        _check_fork_safe()
        self.size, self.local_size, self.timeout = size, size, timeout
        self._seq, self._children, self._peers = 0, {}, {}
        pairs = [socket.socketpair() for _ in range(size - 1)]
        sys.stdout.flush(), sys.stderr.flush()   # or the children print it again
        rank, parent = 0, os.getpid()
        for r in range(1, size):
            pid = os.fork()
            if pid == 0:
                rank = r
                break
            self._children[r] = pid
        self.rank = self.local_rank = rank
        for r, (ours, theirs) in enumerate(pairs, start=1):
            keep = ours if rank == 0 else theirs if rank == r else None
            for s in (ours, theirs):
                if s is not keep:
                    s.close()
            if keep is not None:
                keep.settimeout(timeout)
                self._peers[0 if rank else r] = keep
        if rank:
            self._children = {}
            die_with_parent(parent, ABORT_CODE)
        atexit.register(self._at_exit)

    # ------------------------------------------------------------ collectives
    def allreduce_(self, buf: np.ndarray, what: str = "allreduce") -> np.ndarray:
        raw = _contiguous(buf, what)
        seq = self._next()
        if self.rank:
            self._send(0, seq, what, raw)
            self._recv_into(0, seq, what, raw)
            return buf
        part = np.empty_like(buf)
        for r in sorted(self._peers):   # rank order: the same sum on every rank
            self._recv_into(r, seq, what, part.reshape(-1).view(np.uint8))
            buf += part
        for r in sorted(self._peers):
            self._send(r, seq, what, raw)
        return buf

    def broadcast_(self, buf: np.ndarray, root: int = 0, what: str = "broadcast"
                   ) -> np.ndarray:
        raw = _contiguous(buf, what)
        data = self._broadcast_bytes(raw if self.rank == root else None, root, what)
        if len(data) != raw.size:
            self.abort(f"minigrad.distribution: rank {root} broadcast {len(data)} bytes in "
                       f"{what}, rank {self.rank} expected {raw.size}")
        raw[...] = np.frombuffer(data, np.uint8)
        return buf

    def broadcast_object(self, obj, root: int = 0, what: str = "broadcast"):
        data = self._broadcast_bytes(pickle.dumps(obj) if self.rank == root else None,
                                     root, what)
        return obj if self.rank == root else pickle.loads(data)

    def allgather_object(self, obj, what: str = "allgather") -> list:
        seq = self._next()
        if self.rank:
            self._send(0, seq, what, pickle.dumps(obj))
            return pickle.loads(self._recv(0, seq, what))
        every = [obj] + [pickle.loads(self._recv(r, seq, what)) for r in sorted(self._peers)]
        data = pickle.dumps(every)
        for r in sorted(self._peers):
            self._send(r, seq, what, data)
        return every

    def barrier(self, what: str = "barrier") -> None:
        self.allgather_object(None, what)

    def _broadcast_bytes(self, data, root: int, what: str) -> bytes:
        """Rank `root`'s bytes on every rank (through rank 0 when root is another)."""
        if not 0 <= root < self.size:
            raise ValueError(f"{what}: `root` must be a rank in [0, {self.size}), got {root!r}")
        seq = self._next()
        if self.rank == 0:
            if root:
                data = self._recv(root, seq, what)
            for r in sorted(self._peers):
                if r != root:
                    self._send(r, seq, what, data)
        elif self.rank == root:
            self._send(0, seq, what, data)
        else:
            data = self._recv(0, seq, what)
        return bytes(data)

    # --------------------------------------------------------------- messages
    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _send(self, peer: int, seq: int, what: str, data) -> None:
        sock = self._peers[peer]
        view = memoryview(data).cast("B")
        try:
            sock.sendall(_HEADER.pack(seq, view.nbytes, zlib.crc32(what.encode())))
            sock.sendall(view)
        except socket.timeout:
            self._stalled(peer, seq, what)
        except OSError:
            self._gone(peer, seq, what)

    def _header(self, peer: int, seq: int, what: str) -> int:
        head = bytearray(_HEADER.size)
        self._fill(peer, seq, what, memoryview(head))
        their_seq, nbytes, tag = _HEADER.unpack(head)
        if their_seq != seq or tag != zlib.crc32(what.encode()):
            self.abort(f"minigrad.distribution: rank {self.rank} is in collective #{seq} "
                       f"({what}) but rank {peer} sent collective #{their_seq} (another "
                       f"collective{'' if tag != zlib.crc32(what.encode()) else ', same name'})"
                       f": the processes no longer run the same steps. Aborting the job.")
        return nbytes

    def _recv(self, peer: int, seq: int, what: str) -> bytearray:
        data = bytearray(self._header(peer, seq, what))
        self._fill(peer, seq, what, memoryview(data))
        return data

    def _recv_into(self, peer: int, seq: int, what: str, raw: np.ndarray) -> None:
        nbytes = self._header(peer, seq, what)
        if nbytes != raw.size:
            self.abort(f"minigrad.distribution: rank {peer} sent {nbytes} bytes in collective "
                       f"#{seq} ({what}), rank {self.rank} expected {raw.size}. Aborting the job.")
        self._fill(peer, seq, what, memoryview(raw))

    def _fill(self, peer: int, seq: int, what: str, view: memoryview) -> None:
        sock, got, start = self._peers[peer], 0, time.monotonic()
        while got < view.nbytes:
            try:
                n = sock.recv_into(view[got:])
            except socket.timeout:
                self._stalled(peer, seq, what, time.monotonic() - start)
            except OSError:
                n = 0
            if n == 0:
                self._gone(peer, seq, what)
            got += n

    # ------------------------------------------------------------------ ending
    def _stalled(self, peer: int, seq: int, what: str, waited: float | None = None) -> None:
        waited = self.timeout if waited is None else waited
        self.abort(f"minigrad.distribution: rank {self.rank} waited {waited:.1f} s in "
                   f"collective #{seq} ({what}), past the timeout of {self.timeout:g} s: "
                   f"rank {peer} did not reach it (it sent nothing). Aborting the job (set "
                   f"the timeout with minigrad.distribution.initialize(timeout=...)).")

    def _gone(self, peer: int, seq: int, what: str) -> None:
        code = self._exit_code(peer, wait=0.5)
        how = "" if code is None else f" (exit code {code})"
        self.abort(f"minigrad.distribution: rank {peer} ended{how} while rank {self.rank} "
                   f"waited for it in collective #{seq} ({what}). Aborting the job.")

    def _exit_code(self, rank: int, wait: float = 0.0) -> int | None:
        """A child's exit code once it has ended (within `wait` s), else None."""
        pid = self._children.get(rank)
        deadline = time.monotonic() + wait
        while pid is not None:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if done:
                del self._children[rank]
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
        return None

    def abort(self, message: str, code: int = ABORT_CODE) -> None:
        """Print `message` and end the job: rank 0 ends every child (after a grace
        second in which they may print their own errors), another rank ends
        itself, which rank 0 sees at its next collective."""
        print(message, file=sys.stderr, flush=True)
        sys.stdout.flush()
        for peer in self._peers.values():
            peer.close()
        if self.rank == 0:
            for r in list(self._children):
                self._exit_code(r, wait=_GRACE)
            for pid in self._children.values():
                os.kill(pid, signal.SIGKILL)
        os._exit(code)

    def abort_on_exception(self, exc_type, exc, tb) -> None:
        """sys.excepthook: the traceback, then the whole job ends (not just this rank)."""
        sys.stderr.write(f"[rank {self.rank}] " +
                         "".join(traceback.format_exception(exc_type, exc, tb)))
        self.abort(f"minigrad.distribution: rank {self.rank} raised {exc_type.__name__}; "
                   f"aborting all {self.size} processes")

    def _at_exit(self) -> None:
        """The end of the script: rank 0 waits for the others (up to the timeout) and
        exits with the first failure's code if one failed."""
        sys.stdout.flush(), sys.stderr.flush()
        for peer in self._peers.values():
            peer.close()   # a rank still waiting in a collective learns rank 0 is gone
        if self.rank:
            return
        for r in sorted(self._children):
            code = self._exit_code(r, wait=float("inf") if self.timeout is None
                                   else self.timeout)
            if code is None:
                print(f"minigrad.distribution: rank {r} had not ended {self.timeout:g} s "
                      f"after rank 0 did; killing it", file=sys.stderr, flush=True)
                os.kill(self._children.pop(r), signal.SIGKILL)
                code = ABORT_CODE
            if code:
                print(f"minigrad.distribution: rank {r} exited with code {code}",
                      file=sys.stderr, flush=True)
                os._exit(code if code > 0 else ABORT_CODE)


def _contiguous(buf: np.ndarray, what: str) -> np.ndarray:
    """`buf`'s bytes as a writable uint8 view (collectives work in place)."""
    if not isinstance(buf, np.ndarray) or not buf.flags.c_contiguous or \
            not buf.flags.writeable:
        raise ValueError(f"minigrad.distribution ({what}): the buffer must be a writable "
                         f"C-contiguous NumPy array, got "
                         f"{type(buf).__name__ if not isinstance(buf, np.ndarray) else 'a strided or read-only array'}")
    return buf.reshape(-1).view(np.uint8)


def _check_fork_safe() -> None:
    """Refuse to fork where the children could not run (backends/forking.py says why)."""
    hazard = fork_hazard()
    if hazard is None:
        return
    if hazard[0] == "threads":
        raise RuntimeError(
            f"minigrad.distribution.initialize(num_processes=...) forks this process, which "
            f"runs other threads ({', '.join(hazard[1][:3])}): a lock one of them holds would "
            f"stay held in the copies. Call it at the top of the script, before threads start")
    if hazard[0] == "cuda":
        raise RuntimeError(
            "minigrad.distribution.initialize(num_processes=...) must be called before CUDA "
            "starts (at the top of the script): it forks this process, and a CUDA context "
            "does not survive a fork")
    raise RuntimeError(
        "minigrad.distribution.initialize(num_processes=...) must be called before "
        "the first kernel runs (at the top of the script): it forks this process, "
        "and Numba's OpenMP threads, once started, do not survive a fork")

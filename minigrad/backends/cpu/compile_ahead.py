"""A cold first run compiles a step's kernels on two processes at once.

Numba compiles one kernel at a time in a process (its compiler lock), so on an
empty cache the MNIST convnet's first step spent 6-9 s compiling 13-15 kernel
builds on one core while the other idled (benchmarks/README.md, "First
compile"). `Model.warmup` therefore first runs its steps *dry*: the CPU
backend's `_launch` notes each kernel build with its argument types instead of
running it (outputs hold garbage; warmup restores every state afterwards). Then
a forked copy of this process and this process take the noted serial builds one
at a time from a pipe and compile them, each into Numba's cache, and warmup
returns. The copy goes on alone with the parallel builds (a parfor takes about
twice a serial build's compile); until it reports one done, `_launch` runs that
kernel's serial build, whose bits are the same, and then loads the parallel one
from the cache. Where a fork is unsafe (other threads, CUDA, OpenMP:
backends/forking.py), with one CPU, in a job of several processes, or where a
dry step fails, this process compiles them alone, as before. A warm cache is told
from Numba's cache index: then no fork. A copy still compiling when the script
ends is waited for, so the next run finds every build. The kernels and what they
compute do not change: only who compiles them, and when.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time

import numba

from ..forking import die_with_parent, fork_hazard

LOADED_WITHIN_S = 0.1     # longer, and a build was compiled: the cache is cold
CHILD_TIMEOUT_S = 600.0   # a compile that long is stuck: the parent compiles the rest
_recorded: list | None = None
_recorder = None   # the thread whose launches a dry run notes; other threads run theirs
_for_larger = True


def recording() -> bool:
    """Whether this thread is in a dry run: `_launch` then calls `note`, runs nothing."""
    return _recorded is not None and threading.get_ident() == _recorder


def noting_for_larger_batches() -> bool:
    """Whether this thread is in a dry run whose batch stands for larger ones: a kernel
    that only larger inputs take is noted too (blas.product_tn's chunked product)."""
    return recording() and _for_larger


def note(kernel, parallel: bool, parallel_if_larger: bool, args) -> None:
    """Note the build `_launch` picked for these arguments, and, in a dry run for
    larger batches, the parallel build too where a larger batch would pick it."""
    types = tuple(numba.typeof(a) for a in args)
    _recorded.append((kernel if parallel else kernel.serial, types))
    if not parallel and parallel_if_larger and _for_larger:
        _recorded.append((kernel, types))


@contextlib.contextmanager
def dry_run(for_larger_batches: bool = True):
    """Within: kernels are noted, not run. Yields the list of (build, types) noted.
    `for_larger_batches`: the dry batch stands for larger ones (warmup's, of 2), so a
    kernel's parallel build is noted where a larger batch would run it."""
    global _recorded, _recorder, _for_larger
    _recorded, _recorder, _for_larger = [], threading.get_ident(), for_larger_batches
    try:
        yield _recorded
    finally:
        _recorded = _recorder = None


def usable() -> bool:
    """Whether compiling on a forked copy can help and is safe here and now (the trainer
    also keeps it out of jobs of several processes)."""
    return (os.cpu_count() or 1) > 1 and hasattr(os, "fork") and fork_hazard() is None \
        and not numba.config.DISABLE_JIT


def compile_noted(noted) -> int:
    """Compile (or load from the cache) every noted build not yet in this process, on
    this process and a forked copy. The serial builds are ready on return; the copy
    goes on with the parallel builds alone while this process runs their serial twins
    (`waiting_for`). Returns how many builds the copy took."""
    todo = [(b, t) for b, t in dict.fromkeys(noted) if t not in b.overloads][:255]
    # Builds Numba's cache holds load in milliseconds here: a fork for them would cost
    # more than it saves (the parent's first writes to each of its pages fault once after
    # a fork: ~0.1 s in the first steps). Read from the cache's index where it can be.
    cached = [_in_cache(b, t) for b, t in todo]
    if None not in cached:
        cold = sum(not c for c in cached) >= 2
    else:   # else time a serial build's load: not a parallel one, whose compile or load
        # starts Numba's thread pool (OpenMP's forbids a fork)
        cold = all(hasattr(b, "serial") for b, _ in todo)   # no serial build to tell by
        while not cold and any(not hasattr(b, "serial") for b, _ in todo):
            probe = next(i for i, (b, _) in enumerate(todo) if not hasattr(b, "serial"))
            build, types = todo.pop(probe)
            start = time.perf_counter()
            build.compile(types)
            cold = time.perf_counter() - start > LOADED_WITHIN_S
    finish_copy()   # one copy at a time
    if not cold or len(todo) < 2 or not usable():
        for build, types in todo:
            build.compile(types)
        return 0
    # the copy's own list: the parallel builds (a parfor compiles in about twice a serial
    # build's time), after it has helped with the shared one: the serial builds, and the
    # serial twin of every parallel build, which runs here until the copy is done
    later = [(b, t) for b, t in todo if hasattr(b, "serial")]
    now = list(dict.fromkeys([(b, t) for b, t in todo if not hasattr(b, "serial")] +
                             [(b.serial, t) for b, t in later]))
    now = [(b, t) for b, t in now if t not in b.overloads][:255]
    read, write = os.pipe()
    os.write(write, bytes(range(len(now))))   # one byte per build: reads of 1 are atomic
    os.close(write)
    done_read, done_write = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:   # the copy: compile into the cache, report each parallel build, exit
        code = 1
        try:
            die_with_parent(parent, 1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.close(done_read)
            _take(read, now)
            os.write(done_write, bytes([SHARED_DONE]))
            for number, (build, types) in enumerate(later):
                build.compile(types)
                os.write(done_write, bytes([number]))
            code = 0
        finally:
            os._exit(code)
    os.close(done_write)
    try:
        mine = _take(read, now)
        os.read(done_read, 1)   # the copy has finished its last shared build (or died)
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(done_read)
        raise
    finally:
        os.close(read)
    os.set_blocking(done_read, False)
    global _copy
    _copy = _Copy(pid, done_read, later)
    return len(now) - mine + len(later)


SHARED_DONE = 255   # the copy's byte for "the shared list is compiled" (builds: 0-254)


class _Copy:
    """The forked copy while it compiles parallel builds: which are still to come."""

    def __init__(self, pid: int, done: int, later: list):
        self.pid, self.done, self.later = pid, done, later
        self.waiting = {}   # kernel -> its builds not yet in the cache
        for build, _ in later:
            self.waiting[build] = self.waiting.get(build, 0) + 1
        self.deadline = time.monotonic() + CHILD_TIMEOUT_S


_copy: _Copy | None = None


def waiting_for(kernel) -> bool:
    """Whether the forked copy is still compiling a parallel build of `kernel` (its
    serial build, same bits, runs meanwhile). Reads the copy's reports; reaps it when
    it is done, and kills it past CHILD_TIMEOUT_S (its builds are then compiled here,
    when first called)."""
    global _copy
    copy = _copy
    if copy is None:
        return False
    try:
        news = os.read(copy.done, 256)
    except BlockingIOError:
        news = None
    if news == b"" or (news is None and time.monotonic() > copy.deadline):
        if news is None:
            os.kill(copy.pid, 9)
        os.close(copy.done)
        with contextlib.suppress(ChildProcessError):   # reaped by someone's os.wait()
            os.waitpid(copy.pid, 0)
        _copy = None
        return False
    for number in news or b"":
        build = copy.later[number][0]
        copy.waiting[build] -= 1
        if not copy.waiting[build]:
            del copy.waiting[build]
    return kernel in copy.waiting


def _in_cache(build, types) -> bool | None:
    """Whether Numba's cache index lists this build for these types and this CPU target
    (None: it cannot be read)."""
    try:
        index = build._cache._cache_file._load_index()
        magic = build.targetctx.codegen().magic_tuple()
        return any(key[0] == types and key[1] == magic for key in index)
    except Exception:   # Numba's internals, or no cache: tell by timing a load
        return None


def finish_copy() -> None:
    """Wait for the forked copy, if one still compiles, to finish: at exit too, so a
    short first run leaves every build in the cache (killed, the copy would leave the
    rest to the next run)."""
    while _copy is not None:
        waiting_for(None)
        time.sleep(0.01)


atexit.register(finish_copy)


def _take(read: int, todo: list) -> int:
    """Compile builds whose numbers come through the pipe until it is empty."""
    taken = 0
    while True:
        number = os.read(read, 1)
        if not number:
            return taken
        build, types = todo[number[0]]
        build.compile(types)
        taken += 1



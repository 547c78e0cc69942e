"""A cold first run compiles a step's kernels on two processes at once.

Numba compiles one kernel at a time in a process (its compiler lock), so on an
empty cache the MNIST convnet's first step spent 6-9 s compiling 13-15 kernel
builds on one core while the other idled (benchmarks/README.md, "First
compile"). `Model.warmup` therefore first runs its steps *dry*: the CPU
backend's `_launch` notes each kernel build with its argument types instead of
running it (outputs hold garbage; warmup restores every state afterwards). Then
a forked copy of this process and this process take the noted builds one at a
time from a pipe and compile them, each into Numba's cache; the copy exits, and
this process loads its builds from the cache. Where a fork is unsafe (other
threads, CUDA, OpenMP: backends/forking.py), with one CPU, in a job of several
processes, or where a dry step fails, this process compiles them alone, as before.
A warm cache is told by the first build loading at once: then no fork. The kernels and what they
compute do not change: only who compiles them.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

import numba

from ..forking import die_with_parent, fork_hazard
from .kernels import threads

LOADED_WITHIN_S = 0.1     # longer, and a build was compiled: the cache is cold
CHILD_TIMEOUT_S = 600.0   # a compile that long is stuck: the parent compiles the rest
_recorded: list | None = None
_recorder = None   # the thread whose launches a dry run notes; other threads run theirs


def recording() -> bool:
    """Whether this thread is in a dry run: `_launch` then calls `note`, runs nothing."""
    return _recorded is not None and threading.get_ident() == _recorder


def note(kernel, parallel: bool, args) -> None:
    """Note the build `_launch` picked for these arguments, and the parallel build too
    where a larger batch could pick it (warmup's batch is small)."""
    types = tuple(numba.typeof(a) for a in args)
    _recorded.append((kernel if parallel else kernel.serial, types))
    if not parallel and threads() >= kernel.min_threads:
        _recorded.append((kernel, types))


@contextlib.contextmanager
def dry_run():
    """Within: kernels are noted, not run. Yields the list of (build, types) noted."""
    global _recorded, _recorder
    _recorded, _recorder = [], threading.get_ident()
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
    this process and a forked copy. Returns how many the copy took."""
    todo = [(b, t) for b, t in dict.fromkeys(noted) if t not in b.overloads][:255]
    # A serial build tells a cold cache from a warm one: a load takes milliseconds, and
    # a fork then would cost more than it saves (the parent's first writes to each of its
    # pages fault once after a fork: ~0.1 s in the first steps). Not a parallel build:
    # compiling or loading one starts Numba's thread pool, and OpenMP's forbids a fork.
    cold = all(hasattr(b, "serial") for b, _ in todo)   # no serial build to tell by
    while not cold and any(not hasattr(b, "serial") for b, _ in todo):
        probe = next(i for i, (b, _) in enumerate(todo) if not hasattr(b, "serial"))
        build, types = todo.pop(probe)
        start = time.perf_counter()
        build.compile(types)
        cold = time.perf_counter() - start > LOADED_WITHIN_S
    if not cold or len(todo) < 2 or not usable():
        for build, types in todo:
            build.compile(types)
        return 0
    read, write = os.pipe()
    os.write(write, bytes(range(len(todo))))   # one byte per build: reads of 1 are atomic
    os.close(write)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:   # the copy: compile into the cache, say nothing, exit
        code = 1
        try:
            die_with_parent(parent, 1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            _take(read, todo)
            code = 0
        finally:
            os._exit(code)
    try:
        mine = _take(read, todo)
    except BaseException:
        os.kill(pid, 9)
        raise
    finally:
        os.close(read)
        _wait(pid)
    for build, types in todo:   # the copy's, from the cache (or compiled here if it failed)
        build.compile(types)
    return len(todo) - mine


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


def _wait(pid: int) -> None:
    """Wait for the copy to exit; kill it after CHILD_TIMEOUT_S (its builds not yet in
    the cache are then compiled here, when first called)."""
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return
        time.sleep(0.005)

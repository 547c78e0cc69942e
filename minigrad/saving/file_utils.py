"""Atomic writes: a temporary file beside the target, fsync, then a rename, so a
failed or killed save leaves any previous file intact (and the stale temporary
file of a killed save is removed by the next save of the same file)."""
from __future__ import annotations

import os
import secrets
from typing import Callable


def atomic_write(filepath, write: Callable) -> None:
    """Call `write(fileobj)` on a new temporary file, then put it at `filepath`."""
    path = os.path.abspath(os.fspath(filepath))
    folder, base = os.path.split(path)
    _remove_stale_temporaries(folder, base)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    # created like any file (mode 0666 less the umask, as np.savez), never replacing one
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one
        _fsync_dir(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove_stale_temporaries(folder: str, base: str) -> None:
    """Delete `.<base>.<pid>-<hex>.tmp` files whose writing process is gone (a save
    killed half-way); another live process's save in progress is left alone."""
    prefix = f".{base}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):-len(".tmp")].split("-")[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process: perhaps another thread's save
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _fsync_dir(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)



"""One run per export and day at a time: an advisory file lock the CLI and the DAG both take.

Runs for different days (or exports) hold different locks and proceed in parallel.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transforms.errors import RunInProgressError

_held: set[str] = set()  # locks this process holds, so nested stages do not block themselves


@contextmanager
def day_lock(path: Path, export: str, day: str) -> Iterator[None]:
    """Hold the lock file `path` (Layout.lock_file) for one export and day."""
    key = str(path)
    if key in _held:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunInProgressError(
                f"another run of {export} for {day} is in progress (lock {path}, pid {holder}); "
                "wait for it to finish, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""One run per export and day at a time: a lock the CLI and the DAG both take.

Runs for different days (or exports) hold different locks and proceed in parallel. On a local
(or mounted) extract root the lock is an advisory flock, released by the OS if the holder dies.
On an object store it is a lock object created only if absent (a conditional PUT: two workers
cannot both create it), naming its holder and when it was taken; the holder deletes it. A lock
object older than `EXPORT_LOCK_STALE_SECONDS` (default 21600: six hours) is taken to belong to
a run that died and is taken over with a PUT conditional on its ETag, so two workers cannot
both take it over either.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transforms.errors import RunInProgressError
from transforms.storage import create_exclusive, is_remote, key

#: Seconds after which an object-store lock is taken to belong to a run that died.
STALE_SECONDS_DEFAULT = 6 * 3600

log = logging.getLogger(__name__)

_held: set[str] = set()  # locks this process holds, so nested stages do not block themselves


@contextmanager
def day_lock(path: Path, export: str, day: str) -> Iterator[None]:
    """Hold the lock file `path` (Layout.lock_file) for one export and day."""
    name = str(path)
    if name in _held:
        yield
        return
    if is_remote(path):
        with object_lock(path, f"{export} for {day}", stale_seconds()):
            _held.add(name)
            try:
                yield
            finally:
                _held.discard(name)
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
        _held.add(name)
        try:
            yield
        finally:
            _held.discard(name)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def stale_seconds() -> float:
    return float(os.environ.get("EXPORT_LOCK_STALE_SECONDS", STALE_SECONDS_DEFAULT))


@contextmanager
def object_lock(path, what: str, stale: float, wait: float = 0.0) -> Iterator[None]:
    """The lock as an object on a store (see the module's doc): taken, or taken over when older
    than `stale` seconds, retried for up to `wait` seconds; else RunInProgressError."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    body = json.dumps({"holder": holder, "since": time.time()}).encode()
    deadline = time.monotonic() + wait
    while not _take(path, body, stale):
        if time.monotonic() >= deadline:
            current, age = _current(path)
            raise RunInProgressError(
                f"another run of {what} is in progress (lock {path}, held by {current.get('holder', 'unknown')} "
                f"for {age:.0f} s); wait for it to finish, then run again (a lock older than {stale:.0f} s is "
                "taken over: EXPORT_LOCK_STALE_SECONDS for the day locks)"
            )
        time.sleep(0.2)
    try:
        yield
    finally:
        try:
            if json.loads(path.fs.cat_file(key(path))).get("holder") == holder:
                path.fs.rm(key(path))
        except (FileNotFoundError, ValueError):
            pass


def _current(path) -> tuple[dict, float]:
    try:
        current = json.loads(path.fs.cat_file(key(path)) or b"{}")
    except (FileNotFoundError, ValueError):
        return {}, 0.0
    return current, time.time() - float(current.get("since", time.time()))


def _take(path, body: bytes, stale: float) -> bool:
    """Create the lock object, or replace it if it is older than `stale` (conditional on its ETag)."""
    if create_exclusive(path, body):
        return True
    fs = path.fs
    try:
        etag = fs.info(key(path), refresh=True).get("ETag")
    except FileNotFoundError:
        return create_exclusive(path, body)  # released meanwhile
    current, age = _current(path)
    if age <= stale:
        return False
    try:
        fs.pipe_file(key(path), body, IfMatch=etag)
    except OSError:
        return False  # another worker took it over first
    log.warning(
        "lock %s: taken over from %s, held for %.0f s (a run that died; stale after %.0f s)",
        path,
        current.get("holder", "unknown"),
        age,
        stale,
    )
    return True

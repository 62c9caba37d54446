"""Atomic replacement of a partition folder: readers see the old one or the new one, never a mix.

On Linux the staged folder and the partition are exchanged in one atomic `renameat2` call
(RENAME_EXCHANGE), then the old content (now in the staging path) is deleted. Where the
filesystem cannot exchange, the old partition is renamed aside and the staged one renamed in;
a crash between the two leaves the day absent until the next publish restores it from the
aside copy (`recover`).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
from pathlib import Path

from transforms import storage
from transforms.context import DAY_PREFIX, MANIFEST
from transforms.errors import PublishError
from transforms.ops.faults import crash_point

log = logging.getLogger(__name__)

ASIDE = ".old-"


def recover(export_dir: Path) -> list[str]:
    """Restore partitions a crash left renamed aside; remove leftovers of finished swaps."""
    actions: list[str] = []
    if storage.is_remote(export_dir) or not export_dir.exists():  # a store's swap renames nothing
        return actions
    for aside in sorted(export_dir.glob(f"{ASIDE}{DAY_PREFIX}*")):
        day_name = aside.name.removeprefix(ASIDE)
        target = export_dir / day_name
        if target.exists():
            shutil.rmtree(aside)
            actions.append(f"removed leftover {aside.name}")
        else:
            os.replace(aside, target)
            actions.append(f"restored {day_name} from an interrupted publish")
    for action in actions:
        log.warning("publish recovery: %s", action)
    return actions


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux renameat2). False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(staging: Path, target: Path, crash: str = "publish.after_exchange", commit: str = MANIFEST) -> Path:
    """Replace the folder `target` with the staged folder; readers never see a mix.

    `crash`: the name of the fault-injection point just after the exchange. On an object store
    (no rename) the objects are copied in with `commit`, the file readers trust, last
    (storage.swap): readers that trust only the commit file never see a mix."""
    if storage.is_remote(target):
        try:
            storage.swap(staging, target, commit, before_commit=lambda: crash_point(f"{crash}.before_commit"))
        except OSError as exc:
            raise PublishError(
                f"could not copy the extract into {target}: {exc}; its {commit} still describes the "
                "previous content, and the next run finishes the swap"
            ) from None
        crash_point(crash)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target.parent)
    try:
        if not target.exists():
            os.replace(staging, target)  # first publish of the day: one atomic rename
        elif exchange(staging, target):
            crash_point(crash)
            shutil.rmtree(staging)  # now holds the previous partition
        else:
            aside = target.parent / f"{ASIDE}{target.name}"
            os.replace(target, aside)
            os.replace(staging, target)
            shutil.rmtree(aside)
    except OSError as exc:
        raise PublishError(
            f"could not move the extract into {target}: {exc.strerror}; the previous partition "
            "is kept and the next run restores it if needed"
        ) from None
    return target

"""Publish: write the staged extract, then move it into place with its manifest and reports.

Layout:
    <out-root>/<export>/day=YYYY-MM-DD/part-00000.parquet   zstd, one row per published play
    <out-root>/<export>/day=YYYY-MM-DD/_manifest.json        what, how, counts, file digests
    <out-root>/<export>/day=YYYY-MM-DD/_reports/data_docs/   Great Expectations Data Docs
Staging happens in <out-root>/.staging/ (same filesystem, so the final move is a rename,
and outside the export folder, so readers globbing the export never see it).

Readers see either the previous partition or the new one, whatever the moment of a crash: on
Linux the staged folder and the partition are exchanged in one atomic `renameat2` call
(RENAME_EXCHANGE), then the old content (now in the staging path) is deleted. Where the
filesystem cannot exchange, the old partition is renamed aside and the staged one renamed in;
a crash between the two leaves the day absent until the next run restores it from the aside
copy (`recover`).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import duckdb

from transforms.db import sql_str
from transforms.errors import PublishError
from transforms.faults import crash_point
from transforms.policy import Policy

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
REPORTS = "_reports"
DATA_FILE = "part-00000.parquet"


def partition_dir(out_root: Path, export: str, day: str) -> Path:
    return out_root / export / f"day={day}"


def stage_extract(con: duckdb.DuckDBPyConnection, policy: Policy, staging: Path) -> list[str]:
    """Write anon_events as the day's Parquet file, rows in a fixed order for reproducibility."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    cols = policy.published_columns
    path = staging / DATA_FILE
    con.execute(
        f"""
        COPY (SELECT {", ".join(cols)} FROM anon_events ORDER BY {", ".join(cols)})
        TO {sql_str(path)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 500000)
        """
    )
    return [str(path)]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(staging: Path, manifest: dict) -> Path:
    files = []
    for f in sorted(staging.glob("*.parquet")):
        files.append({"path": f.name, "bytes": f.stat().st_size, "sha256": sha256_file(f)})
    manifest = {**manifest, "files": files}
    path = staging / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def recover(out_root: Path, export: str) -> list[str]:
    """Restore partitions a crash left renamed aside; remove leftovers of finished swaps."""
    actions = []
    export_dir = out_root / export
    if not export_dir.exists():
        return actions
    for aside in sorted(export_dir.glob(".old-day=*")):
        day_name = aside.name.removeprefix(".old-")
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


def swap_into_place(staging: Path, out_root: Path, export: str, day: str) -> Path:
    """Replace the day's partition with the staged folder; readers never see a mix."""
    target = partition_dir(out_root, export, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(out_root, export)
    try:
        if not target.exists():
            os.replace(staging, target)  # first publish of the day: one atomic rename
        elif exchange(staging, target):
            crash_point("publish.after_exchange")
            shutil.rmtree(staging)  # now holds the previous partition
        else:
            aside = target.parent / f".old-{target.name}"
            os.replace(target, aside)
            os.replace(staging, target)
            shutil.rmtree(aside)
    except OSError as exc:
        raise PublishError(
            f"could not move the extract into {target}: {exc.strerror}; the previous partition "
            "is kept and the next run restores it if needed"
        ) from None
    return target

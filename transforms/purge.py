"""Purge: delete extracts, reports and leftovers older than the policy's retention."""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from transforms.faults import crash_point

log = logging.getLogger(__name__)
_DAY = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")


@dataclass
class PurgeResult:
    cutoff: str
    removed: list[str] = field(default_factory=list)
    files: int = 0


def purge(out_root: Path, export: str, today: date, retention_days: int) -> PurgeResult:
    """Remove partitions whose day is more than `retention_days` before `today`.

    Each partition is first renamed out of the export folder (atomic), then deleted, so a
    crash never leaves a half-deleted partition where readers look.
    """
    cutoff = today - timedelta(days=retention_days)
    result = PurgeResult(cutoff=cutoff.isoformat())
    export_dir = out_root / export
    trash = out_root / ".trash" / export
    if trash.exists():
        shutil.rmtree(trash)  # leftovers of a purge that crashed mid-delete
    if not export_dir.exists():
        return result
    for part in sorted(export_dir.iterdir()):
        m = _DAY.match(part.name)
        if not m or not part.is_dir():
            continue
        if date.fromisoformat(m.group(1)) < cutoff:
            n = sum(1 for p in part.rglob("*") if p.is_file())
            trash.mkdir(parents=True, exist_ok=True)
            moved = trash / part.name
            os.replace(part, moved)
            shutil.rmtree(moved)
            result.removed.append(str(part))
            result.files += n
            log.info("purge: removed %s (%d files), older than %s", part, n, cutoff)
            crash_point("purge.after_first")
    return result


def purge_leftovers(roots: list[Path], today: date, retention_days: int) -> list[str]:
    """Remove `<root>/<YYYY-MM-DD>/` folders (staging and work of failed runs) past retention.

    Work folders hold raw-derived rows, so their retention is short (policy.work_retention_days).
    """
    cutoff = today - timedelta(days=retention_days)
    removed = []
    for root in roots:
        if not root.exists():
            continue
        for folder in sorted(root.iterdir()):
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if folder.is_dir() and day < cutoff:
                shutil.rmtree(folder)
                removed.append(str(folder))
                log.info("purge: removed leftover %s, older than %s", folder, cutoff)
    return removed

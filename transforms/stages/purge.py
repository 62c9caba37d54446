"""Purge: delete extracts, reports, quarantined rows and leftovers older than the policy's retention.

Reads and deletes under <out-root>/<export>/, <quarantine-root>/<export>/, and the staging and
work folders of failed runs. Each partition is first renamed out of the export folder
(atomic), then deleted, so a crash never leaves a half-deleted partition where readers look.
On an object store (no rename) its manifest is deleted first: a partition without a manifest
is not published, for readers that trust only manifested partitions.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from transforms import storage
from transforms.context import DAY_PREFIX, MANIFEST, Layout
from transforms.ops.faults import crash_point
from transforms.reporting.html import write_index
from transforms.runtime import StageRun

log = logging.getLogger(__name__)
_DAY = re.compile(rf"^{DAY_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})$")


@dataclass
class PurgeResult:
    cutoff: str
    removed: list[str] = field(default_factory=list)
    files: int = 0


def purge(export_dir: Path, trash: Path, today: date, retention_days: int) -> PurgeResult:
    """Remove `day=` partitions of `export_dir` more than `retention_days` before `today`, via `trash`."""
    cutoff = today - timedelta(days=retention_days)
    result = PurgeResult(cutoff=cutoff.isoformat())
    remote = storage.is_remote(export_dir)
    if not remote and trash.exists():
        shutil.rmtree(trash)  # leftovers of a purge that crashed mid-delete
    if not export_dir.exists():
        return result
    for part in sorted(export_dir.iterdir()):
        m = _DAY.match(part.name)
        if not m or not part.is_dir():
            continue
        if date.fromisoformat(m.group(1)) < cutoff:
            n = len(storage.files_under(part))
            if remote:  # no rename on a store: the manifest goes first, so readers stop trusting the rest
                storage.remove(part / MANIFEST)
                storage.rmtree(part)
            else:
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
                storage.rmtree(folder)
                removed.append(str(folder))
                log.info("purge: removed leftover %s, older than %s", folder, cutoff)
    return removed


def run(s: StageRun) -> dict:
    """The purge stage (holds the export-day lock, taken by the runner)."""
    policy, ctx = s.policy, s.ctx
    layout: Layout = ctx.layout
    export = policy.export
    result = purge(layout.export_dir(export), layout.trash(export), ctx.day_date, policy.retention_days)
    if result.removed:
        write_index(layout, export)
    quarantine = layout.quarantine_export_dir(export)
    if quarantine is not None:
        purge(quarantine, layout.quarantine_trash(export), ctx.day_date, policy.quarantine_retention_days)
    leftovers = purge_leftovers(
        [layout.staging_root(export), layout.work_export_dir(export)], ctx.day_date, policy.work_retention_days
    )
    from transforms.exports import kind_of

    states = kind_of(policy.export_kind).purge(s)
    return {
        "removed_states": states,
        "cutoff": result.cutoff,
        "removed_partitions": len(result.removed),
        "removed_files": result.files,
        "removed_leftovers": len(leftovers),
    }

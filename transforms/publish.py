"""Publish: write the staged extract, then move it into place with its manifest and reports.

Layout:
    <out-root>/<export>/day=YYYY-MM-DD/part-00000.parquet   zstd, one row per published play
    <out-root>/<export>/day=YYYY-MM-DD/_manifest.json        what, how, counts, file digests
    <out-root>/<export>/day=YYYY-MM-DD/_reports/data_docs/   Great Expectations Data Docs
Staging happens in <out-root>/.staging/ (same filesystem, so the final move is a rename,
and outside the export folder, so readers globbing the export never see it).

Readers see either the previous partition or the new one: the old partition is renamed
aside, the staged one renamed in, and the old one deleted. A crash between the two renames
leaves no partition for that day, which the next run's recovery restores from the aside copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import duckdb

from transforms.db import sql_str
from transforms.errors import PublishError
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


def swap_into_place(staging: Path, out_root: Path, export: str, day: str) -> Path:
    """Atomically (per rename) replace the day's partition with the staged folder."""
    target = partition_dir(out_root, export, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(out_root, export)
    aside = target.parent / f".old-{target.name}"
    try:
        if target.exists():
            os.replace(target, aside)
        os.replace(staging, target)
    except OSError as exc:
        raise PublishError(
            f"could not move the extract into {target}: {exc.strerror}; the previous partition "
            "is kept and the next run restores it if needed"
        ) from None
    if aside.exists():
        shutil.rmtree(aside)
    return target

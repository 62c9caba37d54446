"""Run stages on a raw day without Airflow, with any policy object (also modified copies)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms.config.policy import Policy
from transforms.context import RunContext, WorkFiles
from transforms.ops.keys import KeyRing
from transforms.runtime import StageRun
from transforms.stages import NAMES, stage

from . import DAY


def context(raw_root: Path, tmp: Path, policy: Policy, run_id: str = "test", day=DAY, quarantine: bool = False):
    return RunContext(
        str(policy.source_path),
        str(day),
        run_id,
        str(raw_root),
        str(tmp / "out"),
        str(tmp / "work"),
        str(tmp / "quarantine") if quarantine else None,
    )


def run_stages(
    raw_root: Path, tmp: Path, policy: Policy, ring: KeyRing | None, upto: str = "generalize", day=DAY
) -> tuple[RunContext, dict]:
    """Run the stages from pull up to `upto` (included); return the context and summaries."""
    ctx = context(raw_root, tmp, policy, day=day)
    stats: dict = {}
    for name in NAMES[: NAMES.index(upto) + 1]:
        s = StageRun(ctx, policy, stats, ring)
        s.work.folder.mkdir(parents=True, exist_ok=True)
        try:
            stats[name] = stage(name).run(s)
        finally:
            s.close()
    return ctx, stats


def work(ctx: RunContext, policy: Policy) -> WorkFiles:
    return ctx.work(policy.export)


def query(path: Path | str, sql: str, params: list | None = None) -> list[tuple]:
    """Run `sql` over a Parquet file registered as `t`."""
    con = duckdb.connect()
    con.read_parquet(str(path)).create_view("t")
    return con.execute(sql, params or []).fetchall()


def without_run_fields(value):
    """A manifest less what may differ between two runs of the same night: when, which run and
    engine, the file bytes, and every timing."""
    if isinstance(value, dict):
        return {
            k: without_run_fields(v)
            for k, v in value.items()
            if k not in ("created_at", "engine", "files", "stage_seconds", "run_id") and "seconds" not in k
        }
    if isinstance(value, list):
        return [without_run_fields(v) for v in value]
    return value

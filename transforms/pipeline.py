"""Run the stages of one export night: one stage (a DAG task) or all of them (the CLI).

Both call `run_stage`, so they share one code path. Stages hand data over through files in
the run's private work folder (context.WorkFiles) and small summaries in `stats.json`; the
summaries hold counts and settings, never rows, identifiers or key material, so they are
safe for XCom and logs. Every stage checks that the policy is the one the run started with.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from typing import Any

from transforms import storage
from transforms.config.policy import load_policy
from transforms.context import RunContext
from transforms.errors import StageOrderError
from transforms.ops.keys import KeyRing
from transforms.ops.locks import day_lock
from transforms.runtime import StageRun
from transforms.stages import NAMES, stage
from transforms.storage import client_errors, is_remote, unreachable

log = logging.getLogger(__name__)


def load_stats(ctx: RunContext, export: str) -> dict[str, dict[str, Any]]:
    path = ctx.work(export).stats
    return json.loads(path.read_text()) if path.exists() else {}


def _save_stats(ctx: RunContext, export: str, stats: dict) -> None:
    path = ctx.work(export).stats
    text = json.dumps(stats, indent=2, default=str)
    if is_remote(path):  # a PUT replaces an object whole: readers never see half of it
        path.write_text(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run_stage(name: str, ctx: RunContext, ring: KeyRing | None = None) -> dict:
    """Run one stage; return its small, identifier-free summary (safe for XCom and logs)."""
    entry = stage(name)
    policy = load_policy(ctx.policy_path)
    export = policy.export
    stats = load_stats(ctx, export)
    started_with = stats.get("_run", {}).get("policy_digest")
    if started_with and started_with != policy.digest:
        raise StageOrderError(
            f"the policy {policy.source_path} changed since this run started ({started_with[:19]}... -> "
            f"{policy.digest[:19]}...); start a new run of the day"
        )
    engine = stats.get("_run", {}).get("engine", "duckdb")
    if started_with and engine != ctx.engine:
        raise StageOrderError(
            f"run {ctx.run_id} started on the {engine} engine and this stage would run on {ctx.engine}: "
            "a run's stages share one engine; start a new run of the day to change it"
        )
    stats.setdefault("_run", {"policy_digest": policy.digest, "kind": policy.kind, "engine": ctx.engine})
    t0 = time.perf_counter()
    log.info("stage %s: start (export=%s day=%s run=%s)", name, export, ctx.day, ctx.run_id)
    s = StageRun(ctx, policy, {k: v for k, v in stats.items() if k != "_run"}, ring if entry.needs_key else None)
    try:
        if entry.uses_work:
            s.work.folder.mkdir(parents=True, exist_ok=True)
            storage.owner_only(s.work.folder)  # raw-derived rows: the owner's only
        try:
            if entry.locked:
                with day_lock(ctx.layout.lock_file(export, ctx.day), export, ctx.day):
                    summary = entry.run(s)
            else:
                summary = entry.run(s)
        except client_errors() as exc:
            raise unreachable(exc) from None
    finally:
        s.close()
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    # Peak memory of this process so far: per stage under Airflow (one process per task).
    summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    stats[name] = summary
    if s.work.folder.exists():  # publish removes the work folder once the extract is in place
        _save_stats(ctx, export, stats)
    log.info("stage %s: done in %.2fs %s", name, summary["seconds"], _loggable(summary))
    return summary


def _loggable(summary: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, (dict, list)))


def run_all(ctx: RunContext, ring: KeyRing) -> dict:
    """All stages in order, for the CLI and tests, under the export-day lock. Returns the publish summary."""
    summaries = {}
    t0 = time.perf_counter()
    export = load_policy(ctx.policy_path).export
    with day_lock(ctx.layout.lock_file(export, ctx.day), export, ctx.day):
        for name in NAMES:
            summaries[name] = run_stage(name, ctx, ring)
    out = dict(summaries["publish"])
    out["stage_seconds"] = {name: summaries[name]["seconds"] for name in NAMES}
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out

"""The nightly run as a sequence of stages, each a plain function over one run's work folder.

The CLI runs all stages in one process; the Airflow DAG runs each stage as its own task.
Both call `run_stage`, so they share one code path. Stages hand data to each other through
a DuckDB database in the run's private work folder (it holds raw-derived rows, so it lives
outside the extract and is deleted once the run has published) and small stats in JSON.
"""

from __future__ import annotations

import json
import logging
import re
import resource
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from transforms import anonymize as anonymize_mod
from transforms import generalize as generalize_mod
from transforms import pseudonymize as pseudonymize_mod
from transforms import publish as publish_mod
from transforms import pull as pull_mod
from transforms import purge as purge_mod
from transforms import report as report_mod
from transforms import selftest as selftest_mod
from transforms import validate as validate_mod
from transforms.db import connect, sql_str
from transforms.errors import ExportError, RawDataError, ValidationFailed
from transforms.faults import crash_point
from transforms.keys import KeyRing
from transforms.locks import day_lock
from transforms.policy import Policy, load_policy

log = logging.getLogger(__name__)

STAGES = ("pull", "pseudonymize", "generalize", "anonymize", "validate", "publish", "purge")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RunContext:
    """Everything a stage needs to find its inputs. Small and JSON-able: it travels in XCom."""

    policy_path: str
    day: str
    run_id: str
    raw_root: str
    out_root: str
    work_root: str
    quarantine_root: str | None = None

    @property
    def run_slug(self) -> str:
        return _SAFE.sub("_", self.run_id)[:120]

    def policy(self) -> Policy:
        return load_policy(self.policy_path)

    @property
    def day_date(self) -> date:
        return date.fromisoformat(self.day)

    def work_dir(self, export: str) -> Path:
        return Path(self.work_root) / export / self.day / self.run_slug

    def staging_dir(self, export: str) -> Path:
        return Path(self.out_root) / ".staging" / export / self.day / self.run_slug

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunContext:
        return cls(**data)


def resolve_day(param_day: str | None, interval_start: datetime | None, run_after: datetime | None) -> date:
    """The day a run processes: the `day` param, else the data interval, else the day before run_after.

    Airflow 3 runs can have no logical date (manual or asset-triggered runs); then the run
    exports the UTC day that ended before it was triggered.
    """
    if param_day:
        try:
            return date.fromisoformat(str(param_day))
        except ValueError:
            raise ExportError(f"day param {param_day!r} is not a date; use YYYY-MM-DD") from None
    if interval_start is not None:
        return interval_start.astimezone(UTC).date()
    if run_after is not None:
        return (run_after.astimezone(UTC) - timedelta(days=1)).date()
    raise ExportError("cannot tell which day to export: pass the `day` param (YYYY-MM-DD)")


def _stats_path(ctx: RunContext, export: str) -> Path:
    return ctx.work_dir(export) / "stats.json"


def load_stats(ctx: RunContext, export: str) -> dict:
    path = _stats_path(ctx, export)
    return json.loads(path.read_text()) if path.exists() else {}


def _save_stats(ctx: RunContext, export: str, stats: dict) -> None:
    path = _stats_path(ctx, export)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stats, indent=2, default=str))
    tmp.replace(path)


def _quarantine(con, ctx: RunContext, export: str) -> str | None:
    """Rejected raw rows go to the quarantine root (raw data's access domain), never the extract."""
    if not ctx.quarantine_root:
        return None
    folder = Path(ctx.quarantine_root) / export / f"day={ctx.day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rejected-{ctx.run_slug}.parquet"
    con.execute(f"COPY (SELECT * FROM rejected ORDER BY ALL) TO {sql_str(path)} (FORMAT parquet, COMPRESSION zstd)")
    return str(path)


def run_stage(stage: str, ctx: RunContext, ring: KeyRing | None = None) -> dict:
    """Run one stage; return its small, identifier-free summary (safe for XCom and logs)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    policy = ctx.policy()
    export = policy.export
    work = ctx.work_dir(export)
    stats = load_stats(ctx, export)
    t0 = time.perf_counter()
    log.info("stage %s: start (export=%s day=%s run=%s)", stage, export, ctx.day, ctx.run_id)
    summary: dict
    if stage == "purge":
        with day_lock(ctx.out_root, export, ctx.day):
            result = purge_mod.purge(Path(ctx.out_root), export, ctx.day_date, policy.retention_days)
            if result.removed:
                report_mod.write_index(Path(ctx.out_root), export)
        if ctx.quarantine_root:
            purge_mod.purge(Path(ctx.quarantine_root), export, ctx.day_date, policy.quarantine_retention_days)
        leftovers = purge_mod.purge_leftovers(
            [Path(ctx.out_root) / ".staging" / export, Path(ctx.work_root) / export],
            ctx.day_date,
            policy.work_retention_days,
        )
        summary = {
            "cutoff": result.cutoff,
            "removed_partitions": len(result.removed),
            "removed_files": result.files,
            "removed_leftovers": len(leftovers),
        }
    elif stage == "publish":
        with day_lock(ctx.out_root, export, ctx.day):
            summary = _publish(ctx, policy, stats)
    else:
        work.mkdir(parents=True, exist_ok=True)
        con = connect(work / "work.duckdb", work / "tmp")
        try:
            summary = _STAGE_FUNCS[stage](con, ctx, policy, stats, ring)
        finally:
            con.close()
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    # Peak memory of this process so far: per stage under Airflow (one process per task).
    summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    stats[stage] = summary
    if work.exists():  # publish removes the work folder once the extract is in place
        _save_stats(ctx, export, stats)
    log.info("stage %s: done in %.2fs %s", stage, summary["seconds"], _loggable(summary))
    return summary


def _loggable(summary: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, (dict, list)))


def _pull(con, ctx: RunContext, policy: Policy, stats: dict, ring) -> dict:
    r = pull_mod.pull(con, Path(ctx.raw_root), ctx.day_date, policy)
    quarantine = _quarantine(con, ctx, policy.export)
    if r.valid_rows == 0:
        where = f"; the rows are in {quarantine}" if quarantine else ""
        raise RawDataError(
            f"none of the {r.input_rows} rows for {ctx.day} is valid (rejected: {r.rejected}){where}; "
            "fix or re-deliver the day upstream"
        )
    return {
        "input_rows": r.input_rows,
        "valid_rows": r.valid_rows,
        "rejected_rows": sum(r.rejected.values()),
        "rejected_by_reason": r.rejected,
        "event_files": len(r.event_files),
        "subscriber_rows": r.subscribers,
        "duplicate_subscribers": r.duplicate_subscribers,
        "quarantine_file": quarantine,
    }


def _pseudonymize(con, ctx: RunContext, policy: Policy, stats: dict, ring: KeyRing | None) -> dict:
    if ring is None:
        raise ExportError("the pseudonymize stage needs the key ring; none was given")
    r = pseudonymize_mod.pseudonymize(con, policy, ring, ctx.day_date)
    return {"people": r.people, "rows": r.rows, "key_id": r.key_id, "recipient": r.recipient, "epoch": r.epoch}


def _generalize(con, ctx: RunContext, policy: Policy, stats: dict, ring) -> dict:
    r = generalize_mod.generalize(con, policy, ctx.day_date)
    return {"rows": r.rows, "distinct_source_values": r.distinct_values}


def previous_levels(ctx: RunContext, policy: Policy) -> dict[str, str] | None:
    """The levels published for the day before, from its manifest (for stable levels)."""
    day_before = (ctx.day_date - timedelta(days=1)).isoformat()
    path = publish_mod.partition_dir(Path(ctx.out_root), policy.export, day_before) / publish_mod.MANIFEST
    try:
        return json.loads(path.read_text())["levels"]
    except (OSError, ValueError, KeyError):
        return None


def _anonymize(con, ctx: RunContext, policy: Policy, stats: dict, ring) -> dict:
    previous = previous_levels(ctx, policy) if policy.privacy.stable_levels else None
    r = anonymize_mod.anonymize(con, policy, previous)
    out = asdict(r)
    out["suppression_share"] = round(r.suppression_share, 6)
    return out


def _validate(con, ctx: RunContext, policy: Policy, stats: dict, ring) -> dict:
    staging = ctx.staging_dir(policy.export)
    files = publish_mod.stage_extract(con, policy, staging)
    crash_point("validate.after_staging")
    counts = {
        "input_rows": stats["pull"]["input_rows"],
        "suppressed_rows": stats["anonymize"]["suppressed_rows"],
        "rejected_rows": stats["pull"]["rejected_rows"],
    }
    docs = staging / publish_mod.REPORTS / "data_docs"
    levels = stats["anonymize"]["level_numbers"]
    try:
        selftest = selftest_mod.self_test(con, policy, files)
        if selftest.hits:
            raise ValidationFailed(
                f"self-test failed, nothing published: {selftest.hits} published values equal a raw "
                "identifier or an unkeyed hash of one",
                ["self_test"],
            )
        summary = validate_mod.validate(con, policy, files, counts, levels, docs)
    except ValidationFailed as exc:
        # The candidate may hold the very leak validation caught: move it out of the
        # extract's filesystem tree into the private work folder for inspection.
        kept = ctx.work_dir(policy.export) / "failed_extract"
        shutil.rmtree(kept, ignore_errors=True)
        shutil.move(str(staging), str(kept))
        raise ValidationFailed(f"{exc} (candidate kept privately in {kept})", exc.failed) from None
    crash_point("validate.after_suites")
    return {
        "success": summary.success,
        "expectations": summary.evaluated,
        "failed": summary.failed,
        "suites": summary.suites,
        "staged_files": len(files),
        "self_test": asdict(selftest),
    }


def build_manifest(ctx: RunContext, policy: Policy, stats: dict) -> dict:
    pull, anon, pseudo = stats["pull"], stats["anonymize"], stats["pseudonymize"]
    return {
        "export": policy.export,
        "day": ctx.day,
        "run_id": ctx.run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "policy": {"file": Path(policy.source_path).name, "digest": policy.digest},
        "pseudonym": {
            "column": policy.pseudonym.column,
            "key_id": pseudo["key_id"],
            "recipient": pseudo["recipient"],
            "epoch": policy.pseudonym.epoch,
            "epoch_label": pseudo["epoch"],
            "algorithm": "HMAC-SHA256 (per-recipient derived key), first 128 bits, hex",
        },
        "k": policy.privacy.k,
        "suppression_limit": policy.privacy.suppression_limit,
        "quasi_identifiers": policy.qi_columns,
        "levels": anon["levels"],
        "anonymization": {
            "objective": anon["metric"],
            "levels_source": anon["levels_source"],
            "loss": anon["loss"],
            "precision": anon["precision"],
            "discernibility": anon["discernibility"],
            "suppression_unit": anon["suppression_unit"],
            "suppressed_rows_share": anon["suppression_share"],
            "people_with_suppressed_rows": anon["people_with_suppressed_rows"],
            "risk_before": anon["risk_before"],
            "risk_after": anon["risk_after"],
            "l_diversity": anon["l_diversity"],
            "loss_by_attribute": anon["loss_by_attribute"],
            "class_size_histogram": anon["class_size_histogram"],
            "metrics": "loss: ARX Loss, mean over attributes of (m-1)/(n-1), suppressed = 1; precision: "
            "mean level/(height-1), suppressed = 1; discernibility: sum of class rows squared + "
            "suppressed rows x input rows; risk: prosecutor risk 1/people of the class (highest, row average)",
        },
        "search": {
            "evaluated": anon["search_evaluated"],
            "lattice": anon["search_lattice"],
            "seconds": anon["search_seconds"],
        },
        "columns": policy.published_columns,
        "counts": {
            "input_rows": pull["input_rows"],
            "published_rows": anon["published_rows"],
            "suppressed_rows": anon["suppressed_rows"],
            "rejected_rows": pull["rejected_rows"],
            "rejected_by_reason": pull["rejected_by_reason"],
            "people_in": anon["input_people"],
            "people_published": anon["published_people"],
            "people_fully_suppressed": anon["suppressed_people"],
            "classes": anon["classes"],
            "min_class_people": anon["min_class_people"],
            "avg_class_people": round(anon["avg_class_people"], 2),
            "gated_values": anon["gated_values"],
            "gated_rows": anon["gated_rows"],
        },
        "self_test": {
            **stats["validate"]["self_test"],
            "forms": "value, md5/sha1/sha256 (hex, base64, 32-hex prefix), HMAC-SHA256 under an empty key",
        },
        "validation": {
            "success": stats["validate"]["success"],
            "expectations": stats["validate"]["expectations"],
            "suites": stats["validate"]["suites"],
            "data_docs": f"{publish_mod.REPORTS}/data_docs/index.html",
        },
        "stage_seconds": {s: stats[s]["seconds"] for s in STAGES if s in stats},
    }


#: Warning-level checks: they alert (manifest, report, log) but never block publication.
TRAILING_NIGHTS = 7
ROW_COUNT_DEVIATION = 0.5


def warnings(ctx: RunContext, policy: Policy, manifest: dict) -> list[str]:
    out = []
    c = manifest["counts"]
    history = []
    for back in range(1, TRAILING_NIGHTS + 1):
        day = (ctx.day_date - timedelta(days=back)).isoformat()
        path = publish_mod.partition_dir(Path(ctx.out_root), policy.export, day) / publish_mod.MANIFEST
        try:
            history.append(json.loads(path.read_text())["counts"]["published_rows"])
        except (OSError, ValueError, KeyError):
            continue
    if history:
        average = sum(history) / len(history)
        if average and abs(c["published_rows"] - average) / average > ROW_COUNT_DEVIATION:
            out.append(
                f"published rows {c['published_rows']:,} differ by more than {ROW_COUNT_DEVIATION:.0%} from the "
                f"average of the last {len(history)} nights ({average:,.0f})"
            )
    share = manifest["anonymization"]["suppressed_rows_share"]
    if share > policy.privacy.suppression_limit / 2:
        out.append(f"suppression used {share:.1%} of the {policy.privacy.suppression_limit:.0%} limit")
    if c["input_rows"] and c["rejected_rows"] / c["input_rows"] > 0.01:
        out.append(f"{c['rejected_rows'] / c['input_rows']:.1%} of input rows were rejected (see rejected_by_reason)")
    return out


def _publish(ctx: RunContext, policy: Policy, stats: dict) -> dict:
    missing = [s for s in ("pull", "pseudonymize", "anonymize", "validate") if s not in stats]
    if missing:
        raise ExportError(f"cannot publish: stages {missing} have not run for run {ctx.run_id}")
    if not stats["validate"]["success"]:
        raise ExportError("cannot publish: validation did not pass")
    staging = ctx.staging_dir(policy.export)
    manifest = build_manifest(ctx, policy, stats)
    manifest["warnings"] = warnings(ctx, policy, manifest)
    for warning in manifest["warnings"]:
        log.warning("check (not blocking): %s", warning)
    publish_mod.write_manifest(staging, manifest)
    report_mod.write_report(staging, manifest, policy)
    crash_point("publish.after_manifest")
    target = publish_mod.swap_into_place(staging, Path(ctx.out_root), policy.export, ctx.day)
    # Staging left by earlier crashed runs of this day (the day lock is held: none is running).
    for leftover in staging.parent.glob("*"):
        shutil.rmtree(leftover, ignore_errors=True)
    report_mod.write_index(Path(ctx.out_root), policy.export)
    # The work folder holds raw-derived rows; it goes as soon as the extract is in place.
    shutil.rmtree(ctx.work_dir(policy.export), ignore_errors=True)
    c = manifest["counts"]
    return {
        "partition": str(target),
        "manifest": str(target / publish_mod.MANIFEST),
        "data_docs": str(target / publish_mod.REPORTS / "data_docs" / "index.html"),
        "privacy_report": str(target / publish_mod.REPORTS / "privacy_report.html"),
        "warnings": len(manifest["warnings"]),
        "published_rows": c["published_rows"],
        "suppressed_rows": c["suppressed_rows"],
        "rejected_rows": c["rejected_rows"],
        "input_rows": c["input_rows"],
    }


_STAGE_FUNCS = {
    "pull": _pull,
    "pseudonymize": _pseudonymize,
    "generalize": _generalize,
    "anonymize": _anonymize,
    "validate": _validate,
}


def run_all(ctx: RunContext, ring: KeyRing) -> dict:
    """All stages in order, for the CLI and tests, under the export-day lock. Returns the publish summary."""
    summaries = {}
    t0 = time.perf_counter()
    with day_lock(ctx.out_root, ctx.policy().export, ctx.day):
        for stage in STAGES:
            summaries[stage] = run_stage(stage, ctx, ring if stage == "pseudonymize" else None)
    out = dict(summaries["publish"])
    out["stage_seconds"] = {s: summaries[s]["seconds"] for s in STAGES}
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out

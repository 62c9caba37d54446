"""Pull: stage the day's valid plays, joined with the subscriber snapshot; reject the rest with reasons.

Reads   <raw-root>/viewing_events/dt=DAY/*.jsonl.gz (or *.parquet), subscribers/dt=DAY/*.parquet
        and titles/dt=DAY/*.parquet (the catalogue)
Writes  work/staged.parquet: one row per valid play, typed, with birth date, gender and plan
        (without the plays of minors when the policy's minors rule drops them: counted only)
        work/catalogue.parquet: the night's catalogue, the columns the policy reads
        <quarantine-root>/<export>/day=DAY/rejected.parquet: the rejected raw rows (one copy per
        day: the latest run's, written aside and renamed into place)

DuckDB's `read_json` would turn a malformed line into a row of nulls and ignore keys it was not
told about; reading each line as text and parsing it ourselves keeps the malformed line for
quarantine and lets the run stop on a field the policy does not know. The reasons, in the
order they are tested, are `contract.REJECT_REASONS`; docs/DESIGN.md has the table.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from pathlib import Path

from transforms import storage
from transforms.backends import WORK_ROW_GROUP, Backend, InputError, sql
from transforms.config import contract
from transforms.config.policy import Policy
from transforms.context import QUARANTINE_FILE
from transforms.errors import (
    PrivacyError,
    RawDataError,
    RawDayMissing,
    RawSchemaError,
    UnclassifiedColumnError,
)
from transforms.runtime import StageRun
from transforms.storage import location, replace

log = logging.getLogger(__name__)


#: Engine errors about its own disk (spilling, a full disk): retried like any OSError.
_DISK_TROUBLE = re.compile(r"no space left|disk (is )?full|could not write", re.IGNORECASE)


#: The fields that order the copies of a duplicated event id (the first is kept): every field
#: `raw_events` carries but the id itself. The file's position breaks the last ties.
DUPLICATE_ORDER = [c for c in contract.EVENT_COLUMNS if c not in ("event_id", "profile_name")]


def day_files(raw_root: Path, table: str, day: date, patterns: tuple[str, ...]) -> list[str]:
    folder = raw_root / table / f"dt={day.isoformat()}"
    files = sorted(str(p) for pat in patterns for p in folder.glob(pat))
    if not files:
        raise RawDayMissing(
            f"no {table} files for {day} under {folder} (looked for {', '.join(patterns)}); "
            "check that upstream delivered the day, or run a different --day"
        )
    return files


#: What a raw field's name looks like (lower-case words and digits joined by '_').
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _check_event_fields(seen: set[str], all_rows_complete: bool, policy: Policy) -> None:
    """Stop on a raw field the policy does not classify, or a contract field gone missing."""
    unclassified = sorted(k for k in seen if k not in policy.columns)
    if unclassified:
        # A key is quoted only when it looks like a field name: a producer that writes data as
        # a key (an email, an id) must not have it copied into logs and alerts.
        named = [k for k in unclassified if _FIELD_NAME.match(k)]
        shown = ", ".join(repr(k) for k in named[:10])
        if len(named) > 10:
            shown += f" and {len(named) - 10} more"
        if len(named) < len(unclassified):
            others = len(unclassified) - len(named)
            shown = (f"{shown}; " if shown else "") + (
                f"{others} key(s) that do not look like field names (not shown: they may hold data; "
                "look for them in the raw day's first lines)"
            )
        raise UnclassifiedColumnError(
            f"viewing_events has fields the policy does not classify: {shown}; add each under "
            f"`columns` in {Path(policy.source_path).name} (drop, keep, generalize or "
            "pseudonymize) before exporting this day"
        )
    missing = sorted(set(contract.EVENT_COLUMNS) - seen)
    if missing and seen and not all_rows_complete:
        raise RawSchemaError(
            f"viewing_events for the day lack the contract fields {missing} in every row; "
            "upstream changed its schema: fix the producer or re-deliver the day"
        )


def _check_subscriber_columns(names: set[str], policy: Policy) -> None:
    unclassified = sorted(n for n in names if n not in policy.columns)
    if unclassified:
        raise UnclassifiedColumnError(
            f"subscribers has columns the policy does not classify: {unclassified}; add each under "
            f"`columns` in {Path(policy.source_path).name} before exporting this day"
        )
    missing = sorted(set(contract.SUBSCRIBER_COLUMNS) - names)
    if missing:
        raise RawSchemaError(f"subscribers snapshot lacks the contract columns {missing}")


def _check_catalogue_columns(names: set[str], policy: Policy) -> None:
    unclassified = sorted(n for n in names if n not in policy.catalogue)
    if unclassified:
        raise UnclassifiedColumnError(
            f"the title catalogue has columns the policy does not classify: {unclassified}; add each under "
            f"`catalogue` in {Path(policy.source_path).name} (key, generalize or drop) before exporting this day"
        )
    missing = sorted(set(contract.TITLE_COLUMNS) - names)
    if missing:
        raise RawSchemaError(f"the title catalogue lacks the contract columns {missing}; fix the catalogue export")


def catalogue_columns(policy: Policy) -> list[str]:
    """The catalogue columns the policy reads (besides title_id)."""
    return [c for c, action in policy.catalogue.items() if action == "generalize"]


def stage_day(backend: Backend, raw_root: Path, day: date, policy: Policy) -> dict:
    """Build `events_ranked` and `rejected` on the backend; return the file lists and counts."""
    event_files = day_files(raw_root, contract.EVENTS, day, contract.EVENT_PATTERNS)
    formats = {"parquet" if f.endswith(".parquet") else "json" for f in event_files}
    if len(formats) > 1:
        raise RawSchemaError(f"viewing_events for {day} mix JSON lines and Parquet files; deliver one format per day")
    fmt = formats.pop()
    sub_files = day_files(raw_root, contract.SUBSCRIBERS, day, contract.SUBSCRIBER_PATTERNS)
    title_files = day_files(raw_root, contract.TITLES, day, contract.TITLE_PATTERNS)
    params = {
        "files": event_files,
        "day_start": f"{day.isoformat()} 00:00:00",
        "day_end": f"{(day + timedelta(days=1)).isoformat()} 00:00:00",
        "max_watch": contract.MAX_WATCH_SECONDS,
        "content_types": list(contract.CONTENT_TYPES),
        "timestamp_shape": contract.TIMESTAMP_SHAPE,
        "timestamp_formats": list(contract.TIMESTAMP_FORMATS),
        "spark_timestamp_formats": list(contract.SPARK_TIMESTAMP_FORMATS),
        "unit_separator": "\x01",
        "json_paths": [f"$.{c}" for c in contract.EVENT_COLUMNS],
        "contract": list(contract.EVENT_COLUMNS),
        "day": day.isoformat(),
        "minors_under": policy.minors.under if policy.minors.action == "drop" else 0,
    }
    try:
        backend.register_day(event_files, fmt, sub_files, title_files)
        if fmt == "parquet":
            _check_event_fields(backend.parquet_columns(event_files), False, policy)
        _check_subscriber_columns(backend.parquet_columns(sub_files), policy)
        _check_catalogue_columns(backend.parquet_columns(title_files), policy)
        backend.run(sql("pull_subscribers", params))
        # The one pass over the raw day, spooled to Parquet: later steps scan its columns.
        backend.spool("raw_events", sql("pull_stage", params, format=fmt, columns=contract.EVENT_COLUMNS))
        if fmt == "json":
            fields = backend.fetch(sql("pull_fields")).to_pylist()[0]
            complete = bool(fields["complete"])
            seen = set(fields["odd_keys"] or []) | (set(contract.EVENT_COLUMNS) if complete else set())
            _check_event_fields(seen, complete, policy)
        backend.run(sql("pull_join", params, order_columns=DUPLICATE_ORDER))
        backend.run(sql("pull_catalogue", params, columns=catalogue_columns(policy)))
    except InputError as exc:
        if _DISK_TROUBLE.search(str(exc)):
            raise  # the engine's own disk (spill, full), not the raw files: an OSError, retried
        # A truncated, corrupt or unreadable file reads the same on every try: fail at once.
        raise RawDataError(
            f"cannot read the raw day {day}: {exc}; the files are there but damaged or unreadable: "
            "have upstream re-deliver the day, then rerun it"
        ) from None
    counts = backend.fetch(sql("pull_counts")).to_pylist()[0]
    rejected = {str(k): int(v) for k, v in sorted(dict(counts["rejected"] or {}).items())}
    valid = int(counts["valid_rows"])
    if valid + sum(rejected.values()) == 0:
        raise RawDataError(f"viewing_events for {day} hold no rows; check the upstream delivery")
    titles = backend.fetch(sql("pull_catalogue_counts")).to_pylist()[0]
    if not titles["titles"]:
        raise RawDataError(f"the title catalogue for {day} is empty ({title_files[0]}); check the catalogue export")
    return {
        "input_rows": valid + sum(rejected.values()),
        "valid_rows": valid,
        "rejected_rows": sum(rejected.values()),
        "rejected_by_reason": rejected,
        # Valid plays of people under the policy's minors age, dropped here (minors.action drop).
        "minor_rows": int(counts["minor_rows"]),
        "minor_people": int(counts["minor_people"]),
        "event_files": len(event_files),
        "subscriber_rows": int(counts["subscribers"]),
        "duplicate_subscribers": int(counts["duplicate_subscribers"]),
        "catalogue_titles": int(titles["titles"]),
        "duplicate_titles": int(titles["duplicate_titles"]),
        "plays_not_in_catalogue": int(counts["plays_not_in_catalogue"]),
    }


def run(s: StageRun) -> dict:
    day = s.ctx.day_date
    out = stage_day(s.backend, location(s.ctx.raw_root), day, s.policy)
    quarantine = s.ctx.layout.quarantine_dir(s.policy.export, s.ctx.day)
    out["quarantine_file"] = None
    if quarantine is not None:
        # Rejected raw rows stay in the raw zone's access domain, never beside the extract. One
        # copy per day whatever the number of attempts and reruns: the latest run's replaces it.
        path = quarantine / QUARANTINE_FILE
        partial = quarantine / f".{QUARANTINE_FILE}.{s.ctx.run_slug}"
        s.backend.write_parquet(sql("pull_rejected"), partial)
        storage.owner_only(quarantine)  # raw lines: the owner's only
        storage.owner_only(partial)
        replace(partial, path)
        out["quarantine_file"] = str(path)
    if out["valid_rows"] == 0:
        where = f"; the rows are in {out['quarantine_file']}" if out["quarantine_file"] else ""
        raise RawDataError(
            f"none of the {out['input_rows']} rows for {day} is valid (rejected: {out['rejected_by_reason']}){where}; "
            "fix or re-deliver the day upstream"
        )
    if out["valid_rows"] == out["minor_rows"]:
        raise PrivacyError(
            f"every valid play of {day} is by a person under {s.policy.minors.under} (minors.action drop): "
            "there is nothing to publish; check the subscribers' birth dates upstream"
        )
    if out["minor_rows"]:
        log.info(
            "minors rule: %d plays of %d people under %d dropped before pseudonymization",
            out["minor_rows"],
            out["minor_people"],
            s.policy.minors.under,
        )
    s.backend.write_parquet(sql("pull_staged"), s.work.staged, row_group_size=WORK_ROW_GROUP)
    s.backend.unspool("raw_events")
    s.backend.write_parquet(sql("pull_catalogue_out", columns=catalogue_columns(s.policy)), s.work.catalogue)
    return out

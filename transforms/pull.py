"""Pull: read one day of raw viewing events, check each row, join the subscriber snapshot.

Grain of `stg_events`: one row per valid play of the day, typed, with the viewer's
subscriber attributes. Every input row ends up either there or in `rejected` with a reason;
nothing is dropped silently.

Why lines and not `read_json`: DuckDB's JSON reader turns a malformed line into a row of
nulls and ignores keys it was not told about. Reading lines and parsing them ourselves keeps
the malformed line for quarantine and lets the run stop on a field the policy does not know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from transforms.db import scalar
from transforms.errors import RawDataError, UnclassifiedColumnError
from transforms.policy import EVENT_COLUMNS, SUBSCRIBER_COLUMNS, Policy

log = logging.getLogger(__name__)

CONTENT_TYPES = ("movie", "episode", "trailer")
MAX_WATCH_SECONDS = 86_400  # a single play longer than a day is a client bug
TIMESTAMP_FORMATS = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"]

# Reject reasons, in the order they are tested; the first that applies is recorded.
REASONS = (
    "malformed_json", "missing_person_id", "missing_event_id", "bad_started_at", "outside_day",
    "bad_watch_seconds", "bad_country", "bad_content_type", "missing_title_id",
    "duplicate_event_id", "no_subscriber",
)  # fmt: skip


@dataclass
class PullResult:
    event_files: list[str]
    subscriber_files: list[str]
    input_rows: int
    valid_rows: int
    rejected: dict[str, int] = field(default_factory=dict)
    subscribers: int = 0
    duplicate_subscribers: int = 0


def day_files(raw_root: Path, table: str, day: date, patterns: tuple[str, ...]) -> list[str]:
    folder = raw_root / table / f"dt={day.isoformat()}"
    files = sorted(str(p) for pat in patterns for p in folder.glob(pat))
    if not files:
        raise RawDataError(
            f"no {table} files for {day} under {folder} (looked for {', '.join(patterns)}); "
            "check that upstream delivered the day, or run a different --day"
        )
    return files


def _read_events_sql(files: list[str]) -> str:
    """One row per input line: every contract field as text, plus file, keys and raw line."""
    paths = "[" + ", ".join(f"'$.{c}'" for c in EVENT_COLUMNS) + "]"
    fields = ", ".join(f"f[{i + 1}] AS {c}" for i, c in enumerate(EVENT_COLUMNS))
    if files[0].endswith(".parquet"):
        casts = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in EVENT_COLUMNS)
        return f"""
            SELECT *, NULL::VARCHAR AS _line, hash({", ".join(EVENT_COLUMNS)}) AS _line_hash,
                   true AS _is_object, NULL::VARCHAR[] AS _odd_keys
            FROM (SELECT filename AS _file, {casts}
                  FROM read_parquet($files, union_by_name = true, filename = true, hive_partitioning = false))"""
    return f"""
        WITH source AS (
            SELECT filename AS _file, line
            FROM read_csv($files, columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '',
                          escape = '', header = false, filename = true, auto_detect = false,
                          hive_partitioning = false)
        ),
        parsed AS (
            SELECT _file, line, try(json_extract_string(line, {paths})) AS f, try(json_keys(line)) AS keys
            FROM source
        )
        SELECT _file, line AS _line, hash(line) AS _line_hash, coalesce(len(keys), 0) > 0 AS _is_object,
               -- Only rows whose fields are not exactly the contract's keep their key list.
               CASE WHEN len(keys) <> {len(EVENT_COLUMNS)} OR NOT list_has_all($contract, keys) THEN keys END
                   AS _odd_keys,
               {fields}
        FROM parsed"""


def _parquet_columns(con: duckdb.DuckDBPyConnection, files: list[str]) -> set[str]:
    query = "DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false)"
    return {r[0] for r in con.execute(query, {"files": files}).fetchall()}


def _check_event_fields(seen: set[str], all_rows_complete: bool, policy: Policy) -> None:
    """Stop on a raw field the policy does not classify, or a contract field gone missing."""
    unclassified = sorted(k for k in seen if k not in policy.columns)
    if unclassified:
        shown = ", ".join(repr(k[:64]) for k in unclassified[:10])
        raise UnclassifiedColumnError(
            f"viewing_events has fields the policy does not classify: {shown}; add each under "
            f"`columns` in {Path(policy.source_path).name} (drop, keep, generalize or "
            "pseudonymize) before exporting this day"
        )
    missing = sorted(set(EVENT_COLUMNS) - seen)
    if missing and seen and not all_rows_complete:
        raise RawDataError(
            f"viewing_events for the day lack the contract fields {missing} in every row; "
            "upstream changed its schema: fix the producer or re-deliver the day"
        )


STAGE_SQL = """
CREATE OR REPLACE TEMP TABLE raw_events AS
WITH source AS ({read_events}),
typed AS (
    SELECT *,
           try_strptime(started_at, {ts_formats}) AS started_ts,
           -- DuckDB would round '12.5' to 13; the contract says integer, so demand one.
           CASE WHEN regexp_full_match(watch_seconds, '-?[0-9]{{1,12}}') THEN CAST(watch_seconds AS BIGINT) END
               AS watch_s
    FROM source
),
checked AS (
    SELECT *,
        CASE
            WHEN NOT _is_object THEN 'malformed_json'
            WHEN coalesce(trim(account_id), '') = '' OR coalesce(trim(profile_id), '') = ''
                THEN 'missing_person_id'
            WHEN coalesce(trim(event_id), '') = '' THEN 'missing_event_id'
            WHEN started_ts IS NULL THEN 'bad_started_at'
            WHEN started_ts < $day_start OR started_ts >= $day_end THEN 'outside_day'
            WHEN watch_s IS NULL OR watch_s < 0 OR watch_s > $max_watch THEN 'bad_watch_seconds'
            WHEN country IS NULL OR NOT regexp_full_match(country, '[A-Z]{{2}}') THEN 'bad_country'
            WHEN content_type IS NULL OR content_type NOT IN $content_types THEN 'bad_content_type'
            WHEN coalesce(trim(title_id), '') = '' THEN 'missing_title_id'
        END AS reject_reason
    FROM typed
)
SELECT * EXCLUDE (_line), CASE WHEN reject_reason IS NOT NULL THEN _line END AS _line
FROM checked
"""

JOIN_SQL = """
CREATE OR REPLACE TEMP TABLE stg_subscribers AS
SELECT account_id, profile_id,
       arg_min(birth_date, hash(birth_date, gender, plan, signup_date)) AS birth_date,
       arg_min(gender, hash(birth_date, gender, plan, signup_date)) AS gender,
       arg_min(plan, hash(birth_date, gender, plan, signup_date)) AS plan,
       count(*) AS copies
FROM (
    SELECT CAST(account_id AS VARCHAR) AS account_id, CAST(profile_id AS VARCHAR) AS profile_id,
           try_cast(birth_date AS DATE) AS birth_date, CAST(gender AS VARCHAR) AS gender,
           CAST(plan AS VARCHAR) AS plan, try_cast(signup_date AS DATE) AS signup_date
    FROM read_parquet($files, union_by_name = true, hive_partitioning = false)
)
GROUP BY account_id, profile_id;

CREATE OR REPLACE TEMP TABLE duplicated AS
SELECT event_id FROM raw_events WHERE reject_reason IS NULL GROUP BY event_id HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE events_ranked AS
WITH valid AS (
    -- Ranking every row is costly, and only ids that occur more than once need it.
    SELECT *, 1 AS copy_no FROM raw_events
    WHERE reject_reason IS NULL AND event_id NOT IN (SELECT event_id FROM duplicated)
    UNION ALL BY NAME
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY _line_hash, _file) AS copy_no
    FROM raw_events WHERE reject_reason IS NULL AND event_id IN (SELECT event_id FROM duplicated)
),
joined AS (
    SELECT v.*, s.birth_date, s.gender, s.plan, s.profile_id IS NOT NULL AS has_subscriber
    FROM valid v
    LEFT JOIN stg_subscribers s USING (account_id, profile_id)
)
SELECT * EXCLUDE (reject_reason),
       CASE WHEN copy_no > 1 THEN 'duplicate_event_id'
            WHEN NOT has_subscriber THEN 'no_subscriber' END AS reject_reason
FROM joined;

CREATE OR REPLACE TABLE stg_events AS
-- event_id (de-duplication is done) and profile_name (free text) are not needed downstream.
SELECT account_id, profile_id, email, ip_address, device_id,
       device_model, title_id, title_name, content_type, started_ts AS started_at,
       watch_s AS watch_seconds, country, city, postal_code, birth_date, gender, plan
FROM events_ranked WHERE reject_reason IS NULL;

CREATE OR REPLACE TABLE rejected AS
SELECT reject_reason, _file, _line, event_id, account_id, profile_id, started_at, watch_seconds,
       country, content_type, title_id
FROM raw_events WHERE reject_reason IS NOT NULL
UNION ALL BY NAME
SELECT reject_reason, _file, NULL AS _line, event_id, account_id, profile_id, started_at,
       watch_seconds, country, content_type, title_id
FROM events_ranked WHERE reject_reason IS NOT NULL;

DROP TABLE events_ranked;
DROP TABLE duplicated;
DROP TABLE raw_events;
"""


def _check_subscriber_columns(con: duckdb.DuckDBPyConnection, files: list[str], policy: Policy) -> None:
    names = _parquet_columns(con, files)
    unclassified = sorted(n for n in names if n not in policy.columns)
    if unclassified:
        raise UnclassifiedColumnError(
            f"subscribers has columns the policy does not classify: {unclassified}; add each under "
            f"`columns` in {Path(policy.source_path).name} before exporting this day"
        )
    missing = sorted(set(SUBSCRIBER_COLUMNS) - names)
    if missing:
        raise RawDataError(f"subscribers snapshot lacks the contract columns {missing}")


def pull(con: duckdb.DuckDBPyConnection, raw_root: Path, day: date, policy: Policy) -> PullResult:
    """Stage the day's valid events joined with subscribers; record every rejected row."""
    event_files = day_files(raw_root, "viewing_events", day, ("*.jsonl.gz", "*.jsonl", "*.parquet"))
    kinds = {f.endswith(".parquet") for f in event_files}
    if len(kinds) > 1:
        raise RawDataError(f"viewing_events for {day} mix JSON lines and Parquet files; deliver one format per day")
    sub_files = day_files(raw_root, "subscribers", day, ("*.parquet",))
    try:
        if event_files[0].endswith(".parquet"):
            _check_event_fields(_parquet_columns(con, event_files), False, policy)
        _check_subscriber_columns(con, sub_files, policy)
        sql = STAGE_SQL.format(
            read_events=_read_events_sql(event_files),
            ts_formats="[" + ", ".join(f"'{f}'" for f in TIMESTAMP_FORMATS) + "]",
        )
        day_start = f"{day.isoformat()} 00:00:00"
        con.execute(
            sql,
            {
                "files": event_files,
                "day_start": day_start,
                "day_end": f"{date.fromordinal(day.toordinal() + 1).isoformat()} 00:00:00",
                "max_watch": MAX_WATCH_SECONDS,
                "content_types": list(CONTENT_TYPES),
                **({} if event_files[0].endswith(".parquet") else {"contract": list(EVENT_COLUMNS)}),
            },
        )
        if not event_files[0].endswith(".parquet"):
            odd = con.execute(
                "SELECT DISTINCT unnest(_odd_keys) FROM raw_events WHERE _odd_keys IS NOT NULL"
            ).fetchall()
            complete = con.execute(
                "SELECT count(*) > 0 FROM raw_events WHERE _is_object AND _odd_keys IS NULL"
            ).fetchone()[0]
            _check_event_fields({r[0] for r in odd} | (set(EVENT_COLUMNS) if complete else set()), complete, policy)
        statements = [st for st in JOIN_SQL.split(";") if st.strip()]
        con.execute(statements[0], {"files": sub_files})
        for statement in statements[1:]:
            con.execute(statement)
    except duckdb.IOException as exc:
        raise RawDataError(f"cannot read the raw day {day}: {_first_line(exc)}") from None
    except duckdb.InvalidInputException as exc:
        raise RawDataError(f"raw files for {day} are not readable: {_first_line(exc)}") from None

    rejected = dict(con.execute(
        "SELECT reject_reason, count(*) FROM rejected GROUP BY 1 ORDER BY 1"
    ).fetchall())  # fmt: skip
    valid_rows = int(scalar(con, "SELECT count(*) FROM stg_events") or 0)
    result = PullResult(
        event_files=event_files,
        subscriber_files=sub_files,
        input_rows=valid_rows + sum(rejected.values()),
        valid_rows=valid_rows,
        rejected={k: int(v) for k, v in rejected.items()},
        subscribers=int(scalar(con, "SELECT count(*) FROM stg_subscribers") or 0),
        duplicate_subscribers=int(scalar(con, "SELECT count(*) FROM stg_subscribers WHERE copies > 1") or 0),
    )
    if result.input_rows == 0:
        raise RawDataError(f"viewing_events for {day} hold no rows; check the upstream delivery")
    return result


def _first_line(exc: Exception) -> str:
    """The first line of a DuckDB error with any quoted input cut off.

    DuckDB quotes the offending input in some errors ("Input: ...", "Original Line: ...");
    raw lines hold personal data, so only the part naming the file and problem is kept.
    """
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for marker in ("Input:", "Original Line", "Line:", "Value:", '"'):
        text = text.split(marker)[0]
    return text.strip()[:300]

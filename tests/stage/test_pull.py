"""Pull: every dirty input either lands in `rejected` with its reason or stops the run."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import date
from pathlib import Path

import pytest

from tests.support.rawday import BASE, dumps, event, write_day
from tests.support.runs import context, query
from transforms.backends.duckdb import DuckDBBackend
from transforms.errors import RawDataError, RawDayMissing, RawSchemaError, UnclassifiedColumnError
from transforms.stages.pull import stage_day

DAY = date(2026, 11, 23)
SUB = {"account_id": BASE["account_id"], "profile_id": BASE["profile_id"]}


def pull(raw_root, policy):
    with DuckDBBackend() as b:
        return stage_day(b, raw_root, DAY, policy)


def test_each_dirty_kind_is_rejected_with_its_reason(tmp_path, policy):
    rows = [
        event(1),
        event(2, started_at="2026-11-23T23:59:59Z"),
        event(3, profile_id=None),  # missing_person_id
        event(4, account_id=""),  # missing_person_id
        event(5, event_id=None),  # missing_event_id
        event(6, started_at="yesterday"),  # bad_started_at
        event(7, started_at="2026-11-22T23:59:59Z"),  # outside_day
        event(8, started_at="2026-11-24T00:00:00Z"),  # outside_day (end is exclusive)
        event(9, watch_seconds=-5),  # bad_watch_seconds
        event(10, watch_seconds="12.5"),  # bad_watch_seconds
        event(11, watch_seconds=90_000),  # bad_watch_seconds (absurd)
        event(12, country="gb"),  # bad_country
        event(13, content_type="podcast"),  # bad_content_type
        event(14, title_id=""),  # missing_title_id
        event(1),  # duplicate_event_id
        event(15, account_id="AC999999999999"),  # no_subscriber
    ]
    lines = [*dumps(rows), '{"event_id": "x", "account', "[1, 2]"]  # malformed_json x2
    write_day(tmp_path / "raw", lines, [SUB])
    from transforms.pipeline import run_stage

    ctx = context(tmp_path / "raw", tmp_path, policy, quarantine=True)
    result = run_stage("pull", ctx)
    assert result["input_rows"] == 18
    assert result["valid_rows"] == 2
    assert result["rejected_by_reason"] == {
        "bad_content_type": 1,
        "bad_country": 1,
        "bad_started_at": 1,
        "bad_watch_seconds": 3,
        "duplicate_event_id": 1,
        "malformed_json": 2,
        "missing_event_id": 1,
        "missing_person_id": 2,
        "missing_title_id": 1,
        "no_subscriber": 1,
        "outside_day": 2,
    }
    assert result["input_rows"] == result["valid_rows"] + sum(result["rejected_by_reason"].values())
    quarantined = result["quarantine_file"]
    assert quarantined.startswith(str(tmp_path / "quarantine" / "viewing_sessions" / "day=2026-11-23"))
    kept = query(quarantined, "SELECT _line FROM t WHERE reject_reason = 'malformed_json' ORDER BY 1")
    assert kept == [("[1, 2]",), ('{"event_id": "x", "account',)]
    assert query(quarantined, "SELECT count(*) FROM t")[0][0] == 16
    events = tmp_path / "raw" / "viewing_events" / f"dt={DAY}" / "part-00000.jsonl.gz"
    assert query(quarantined, "SELECT DISTINCT _file FROM t") == [(str(events),)]
    staged = ctx.work("viewing_sessions").staged
    assert query(staged, "SELECT count(*) FROM t")[0][0] == 2
    assert not list(tmp_path.rglob("spool-*"))  # the parsed day (raw text) is not left in the scratch
    # Raw lines and raw-derived rows: readable by the run's owner only.
    assert Path(quarantined).stat().st_mode & 0o777 == 0o600
    assert Path(quarantined).parent.stat().st_mode & 0o777 == 0o700
    assert staged.parent.stat().st_mode & 0o777 == 0o700


def test_a_quarantine_or_work_root_inside_the_extract_root_is_refused(tmp_path, policy):
    """Readers of the extracts would read the raw lines beside them."""
    ctx = context(tmp_path / "raw", tmp_path, policy, quarantine=True)
    for field in ("quarantine_root", "work_root"):
        for inside in (ctx.out_root, f"{ctx.out_root}/private"):
            with pytest.raises(ValueError, match="inside the extract root"):
                dataclasses.replace(ctx, **{field: inside})
    dataclasses.replace(ctx, quarantine_root=f"{ctx.out_root}-quarantine")  # a sibling is fine


def test_quarantine_names_each_rows_file_and_keeps_the_first_files_copy(tmp_path, policy):
    """Two files: an exact copy of a line in the second file is the duplicate (ties between equal
    lines go to the file that sorts first), and each quarantined row names its own file."""
    write_day(tmp_path / "raw", dumps([event(1), event(2)]), [SUB])
    folder = tmp_path / "raw" / "viewing_events" / f"dt={DAY}"
    first = folder / "part-00000.jsonl.gz"
    second = folder / "part-00001.jsonl.gz"
    copy = gzip.open(first, "rt").read().splitlines()[0]
    with gzip.open(second, "wt", encoding="utf-8") as fh:
        fh.write("\n".join([copy, '{"event_id": "y"']) + "\n")
    from transforms.pipeline import run_stage

    result = run_stage("pull", context(tmp_path / "raw", tmp_path, policy, quarantine=True))
    assert result["rejected_by_reason"] == {"duplicate_event_id": 1, "malformed_json": 1}
    rows = query(result["quarantine_file"], "SELECT reject_reason, _file FROM t ORDER BY 1")
    assert rows == [("duplicate_event_id", str(second)), ("malformed_json", str(second))]


def test_unclassified_field_stops_the_run_naming_it(tmp_path, policy):
    write_day(tmp_path, dumps([event(1), event(2, loyalty_card="1234-5678")]), [SUB])
    with pytest.raises(UnclassifiedColumnError, match="'loyalty_card'"):
        pull(tmp_path, policy)


def test_a_key_that_is_data_is_counted_not_quoted(tmp_path, policy):
    """A producer writing a value as a key (here an email) stops the run without the value
    reaching the error, which goes to logs and alerts."""
    extra = {"jane.canary@example.org": 1, "loyalty_card": "x"}
    write_day(tmp_path, dumps([event(1), event(2, **extra)]), [SUB])
    with pytest.raises(UnclassifiedColumnError, match="'loyalty_card'") as stopped:
        pull(tmp_path, policy)
    assert "canary" not in str(stopped.value)
    assert "1 key(s) that do not look like field names" in str(stopped.value)


def test_contract_field_missing_everywhere_stops_the_run(tmp_path, policy):
    rows = [{k: v for k, v in event(i).items() if k != "postal_code"} for i in range(3)]
    write_day(tmp_path, dumps(rows), [SUB])
    with pytest.raises(RawSchemaError, match=r"lack the contract fields \['postal_code'\]"):
        pull(tmp_path, policy)


def test_truncated_gzip_names_the_file(tmp_path, policy):
    write_day(tmp_path, dumps([event(i) for i in range(200)]), [SUB])
    part = tmp_path / "viewing_events" / f"dt={DAY}" / "part-00000.jsonl.gz"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    with pytest.raises(RawDataError, match=r"part-00000\.jsonl\.gz") as err:
        pull(tmp_path, policy)
    assert "ada@example.com" not in str(err.value)
    # Reading it again gives the same answer: the task fails at once and says what to do.
    assert not err.value.retryable and "re-deliver the day, then rerun it" in str(err.value)


def test_missing_day_says_what_to_check(tmp_path, policy):
    with pytest.raises(RawDayMissing, match="no viewing_events files for 2026-11-23") as err:
        pull(tmp_path, policy)
    assert err.value.retryable  # upstream may still be delivering it


def test_parquet_events_are_accepted(tmp_path, policy):
    import duckdb

    write_day(tmp_path, dumps([event(1)]), [SUB])
    folder = tmp_path / "viewing_events" / f"dt={DAY}"
    json_file = folder / "part-00000.jsonl.gz"
    rows = [json.loads(line) for line in gzip.open(json_file, "rt")] + [event(2)]
    json_file.unlink()
    con = duckdb.connect()
    cols = list(BASE)
    con.execute("CREATE TABLE t (" + ", ".join(f"{c} VARCHAR" for c in cols) + ")")
    for r in rows:
        con.execute(
            "INSERT INTO t VALUES (" + ", ".join("?" for _ in cols) + ")",
            [None if r[c] is None else str(r[c]) for c in cols],
        )
    con.execute(f"COPY t TO '{folder / 'part-00000.parquet'}' (FORMAT parquet)")
    result = pull(tmp_path, policy)
    assert (result["input_rows"], result["valid_rows"]) == (2, 2)


def test_truncated_parquet_names_the_file(tmp_path, policy):
    test_parquet_events_are_accepted(tmp_path, policy)
    part = tmp_path / "viewing_events" / f"dt={DAY}" / "part-00000.parquet"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    with pytest.raises(RawDataError, match=r"part-00000\.parquet") as err:
        pull(tmp_path, policy)
    assert not err.value.retryable


def test_empty_day_stops_the_run(tmp_path, policy):
    from tests.support.rawday import catalogue_row

    write_day(tmp_path, [], [SUB], titles=[catalogue_row("MV000001", "A Film")])
    (tmp_path / "viewing_events" / f"dt={DAY}" / "part-00000.jsonl.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(RawDataError, match="hold no rows") as err:
        pull(tmp_path, policy)
    assert not err.value.retryable  # delivered, but empty: a re-delivery, not a wait


def test_a_day_without_catalogue_stops_naming_the_folder(tmp_path, policy):
    write_day(tmp_path, dumps([event(1)]), [SUB], titles=[])
    with pytest.raises(RawDayMissing, match=r"no titles files for 2026-11-23 under .*titles/dt=2026-11-23"):
        pull(tmp_path, policy)


def test_an_unclassified_catalogue_column_stops_the_run(tmp_path, policy):
    from tests.support.rawday import catalogue_row

    write_day(tmp_path, dumps([event(1)]), [SUB], titles=[catalogue_row("MV000001", "A Film")])
    import duckdb

    folder = tmp_path / "titles" / f"dt={DAY}"
    duckdb.sql(
        f"COPY (SELECT *, 'secret' AS editor_email FROM read_parquet('{folder}/part-00000.parquet', "
        "hive_partitioning = false)) "
        f"TO '{folder}/part-00001.parquet' (FORMAT parquet)"
    )
    (folder / "part-00000.parquet").unlink()
    with pytest.raises(
        UnclassifiedColumnError, match=r"catalogue has columns the policy does not classify: \['editor_email'\]"
    ):
        pull(tmp_path, policy)


def test_plays_of_titles_missing_from_the_catalogue_are_kept_and_counted(tmp_path, policy):
    from tests.support.rawday import catalogue_row

    rows = [event(1), event(2, title_id="MV000002"), event(3, title_id="EP000009001", content_type="episode")]
    write_day(tmp_path, dumps(rows), [SUB], titles=[catalogue_row("MV000001", "A Film")])
    result = pull(tmp_path, policy)
    assert result["valid_rows"] == 3 and result["rejected_rows"] == 0
    assert result["plays_not_in_catalogue"] == 2 and result["catalogue_titles"] == 1

"""The gate through the stage runner: a failed validation publishes nothing and hides the candidate."""

from __future__ import annotations

import base64
from datetime import date

import duckdb
import pytest

from transforms.errors import ExportError, ValidationFailed
from transforms.keys import ring_from_text
from transforms.pipeline import RunContext, run_stage
from transforms.purge import purge, purge_leftovers

from .conftest import DAY, POLICY_PATH, TEST_SECRET


def test_failed_validation_publishes_nothing(raw_day, tmp_path):
    ctx = RunContext(
        str(POLICY_PATH), str(DAY), "gate-test", str(raw_day), str(tmp_path / "out"), str(tmp_path / "work")
    )
    ring = ring_from_text("base64:" + base64.b64encode(TEST_SECRET).decode(), "test")
    for stage in ("pull", "pseudonymize", "generalize", "anonymize"):
        run_stage(stage, ctx, ring if stage == "pseudonymize" else None)
    db = ctx.work_dir("viewing_sessions") / "work.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE anon_events SET location = '198.51.100.7' WHERE rowid < 5")
    with pytest.raises(ValidationFailed, match="candidate kept privately") as err:
        run_stage("validate", ctx)
    assert "198.51.100.7" not in str(err.value)
    work = ctx.work_dir("viewing_sessions")
    reports = [p for p in work.rglob("*") if p.suffix in (".json", ".html")]
    assert reports, "Data Docs and stats of the failed run are kept for inspection"
    assert all("198.51.100.7" not in p.read_text(errors="replace") for p in reports)
    assert not ctx.staging_dir("viewing_sessions").exists()
    assert (ctx.work_dir("viewing_sessions") / "failed_extract").exists()
    with pytest.raises(ExportError, match="cannot publish"):
        run_stage("publish", ctx)
    assert not (tmp_path / "out" / "viewing_sessions" / f"day={DAY}").exists()


def test_purge_removes_only_partitions_past_retention(tmp_path):
    export = tmp_path / "viewing_sessions"
    for day in ("2026-08-01", "2026-08-25", "2026-11-20"):
        (export / f"day={day}").mkdir(parents=True)
        (export / f"day={day}" / "part-00000.parquet").write_bytes(b"x")
    (export / "notes").mkdir()
    result = purge(tmp_path, "viewing_sessions", date(2026, 11, 23), retention_days=90)
    assert result.cutoff == "2026-08-25"
    assert sorted(p.name for p in export.iterdir()) == ["day=2026-08-25", "day=2026-11-20", "notes"]
    assert result.files == 1


def test_purge_removes_old_work_leftovers(tmp_path):
    for day in ("2026-11-01", "2026-11-20"):
        (tmp_path / "work" / day / "run").mkdir(parents=True)
    removed = purge_leftovers([tmp_path / "work", tmp_path / "missing"], date(2026, 11, 23), 7)
    assert [p.rsplit("/", 1)[-1] for p in removed] == ["2026-11-01"]


def test_a_day_with_no_valid_row_stops_after_quarantining_it(tmp_path):
    from .rawday import dumps, event, write_day

    raw = write_day(tmp_path / "raw", [*dumps([event(1, watch_seconds=-1)]), "{broken"], [])
    ctx = RunContext(str(POLICY_PATH), str(DAY), "bad-day", str(raw), str(tmp_path / "out"), str(tmp_path / "work"),
                     str(tmp_path / "quarantine"))  # fmt: skip
    with pytest.raises(ExportError, match=r"none of the 2 rows for 2026-11-23 is valid"):
        run_stage("pull", ctx)
    assert list((tmp_path / "quarantine" / "viewing_sessions").rglob("rejected-*.parquet"))


def test_warning_checks_alert_without_blocking(tmp_path, policy):
    import json

    from transforms.pipeline import warnings

    out = tmp_path / "out"
    for back in (1, 2):
        part = out / "viewing_sessions" / f"day=2026-11-2{3 - back}"
        part.mkdir(parents=True)
        (part / "_manifest.json").write_text(json.dumps({"counts": {"published_rows": 10_000}}))
    ctx = RunContext(str(POLICY_PATH), str(DAY), "w", "raw", str(out), str(tmp_path / "work"))
    manifest = {
        "counts": {"published_rows": 4_000, "input_rows": 5_000, "rejected_rows": 100},
        "anonymization": {"suppressed_rows_share": 0.06},
    }
    found = warnings(ctx, policy, manifest)
    assert any("differ by more than 50%" in w and "last 2 nights" in w for w in found)
    assert any("suppression used 6.0% of the 10% limit" in w for w in found)
    assert any("2.0% of input rows were rejected" in w for w in found)
    steady = {"counts": {"published_rows": 9_000, "input_rows": 9_100, "rejected_rows": 10},
              "anonymization": {"suppressed_rows_share": 0.01}}  # fmt: skip
    assert warnings(ctx, policy, steady) == []

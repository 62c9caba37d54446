"""The gate through the stage runner: a failed validation publishes nothing and hides the candidate."""

from __future__ import annotations

import base64
import json
from datetime import date

import duckdb
import pytest

from tests.support import DAY, POLICY_PATH, TEST_SECRET
from tests.unit.test_manifest import sample
from transforms.context import Layout, RunContext
from transforms.errors import ExportError, RawDataError, StageOrderError, ValidationFailed
from transforms.ops.keys import ring_from_text
from transforms.pipeline import run_stage
from transforms.reporting.manifest import Manifest, warnings
from transforms.stages.purge import purge, purge_leftovers

LEAK = "198.51.100.7"


def test_failed_validation_publishes_nothing(raw_day, tmp_path):
    ctx = RunContext(
        str(POLICY_PATH), str(DAY), "gate-test", str(raw_day), str(tmp_path / "out"), str(tmp_path / "work")
    )
    ring = ring_from_text("base64:" + base64.b64encode(TEST_SECRET).decode(), "test")
    for stage in ("pull", "pseudonymize", "generalize", "anonymize"):
        run_stage(stage, ctx, ring)
    # A bug upstream of the gate: an IP address lands in the published name of every title label.
    work = ctx.work("viewing_sessions")
    pub = work.decision / "pub_title_id.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * REPLACE ($leak AS title_name) FROM read_parquet($src)) TO $dst (FORMAT parquet)",
        {"leak": LEAK, "src": str(pub), "dst": str(work.folder / "p.parquet")},
    )
    (work.folder / "p.parquet").replace(pub)
    with pytest.raises(ValidationFailed, match="candidate kept privately") as err:
        run_stage("validate", ctx)
    assert "no ipv4 in title_name" in str(err.value) and LEAK not in str(err.value)
    reports = [p for p in work.folder.rglob("*") if p.suffix in (".json", ".html")]
    assert reports, "Data Docs and stats of the failed run are kept for inspection"
    assert all(LEAK not in p.read_text(errors="replace") for p in reports)
    assert not ctx.staging_dir("viewing_sessions").exists()
    assert work.failed_extract.exists()
    with pytest.raises(StageOrderError, match="needs \\['validate'\\]"):
        run_stage("publish", ctx)
    assert not (tmp_path / "out" / "viewing_sessions" / f"day={DAY}").exists()


def test_a_candidate_whose_checks_broke_off_leaves_the_extract_root(raw_day, tmp_path, monkeypatch):
    """Not only a failed expectation: any error in the checks (here the self-test's input)
    takes the unvalidated candidate out of the extract root's staging, where readers look."""
    import transforms.stages.validate as validate
    from transforms.backends import InputError

    ctx = RunContext(str(POLICY_PATH), str(DAY), "broke", str(raw_day), str(tmp_path / "out"), str(tmp_path / "work"))
    ring = ring_from_text("base64:" + base64.b64encode(TEST_SECRET).decode(), "test")
    for stage in ("pull", "pseudonymize", "generalize", "anonymize"):
        run_stage(stage, ctx, ring)

    def broken(*_):
        raise InputError("the raw day could not be read again")

    monkeypatch.setattr(validate, "self_test", broken)
    with pytest.raises(InputError):
        run_stage("validate", ctx)
    assert not ctx.staging_dir("viewing_sessions").exists()
    assert ctx.work("viewing_sessions").failed_extract.exists()


def test_a_stage_run_out_of_order_says_which_stage_is_missing(raw_day, tmp_path):
    ctx = RunContext(str(POLICY_PATH), str(DAY), "order", str(raw_day), str(tmp_path / "out"), str(tmp_path / "work"))
    with pytest.raises(StageOrderError, match=r"needs \['pull', 'pseudonymize'\]"):
        run_stage("generalize", ctx)


def test_a_policy_changed_mid_run_is_refused(raw_day, tmp_path):
    policy = tmp_path / "policies" / "viewing_sessions.yaml"
    policy.parent.mkdir()
    policy.write_text(POLICY_PATH.read_text())
    (policy.parent / "reference").symlink_to(POLICY_PATH.parent / "reference")
    ctx = RunContext(str(policy), str(DAY), "changed", str(raw_day), str(tmp_path / "out"), str(tmp_path / "work"))
    run_stage("pull", ctx)
    policy.write_text(POLICY_PATH.read_text().replace("k: 5 ", "k: 6 "))
    with pytest.raises(StageOrderError, match="changed since this run started"):
        run_stage("pseudonymize", ctx, ring_from_text("x" * 32, "test"))


def test_a_run_keeps_the_engine_it_started_on(raw_day, tmp_path):
    import dataclasses

    ctx = RunContext(str(POLICY_PATH), str(DAY), "engine", str(raw_day), str(tmp_path / "out"), str(tmp_path / "work"))
    run_stage("pull", ctx)
    with pytest.raises(StageOrderError, match="started on the duckdb engine"):
        run_stage("pseudonymize", dataclasses.replace(ctx, engine="spark"), ring_from_text("x" * 32, "test"))
    with pytest.raises(ValueError, match="unknown engine 'flink'"):
        dataclasses.replace(ctx, engine="flink")


def test_purge_removes_only_partitions_past_retention(tmp_path):
    export = tmp_path / "viewing_sessions"
    for day in ("2026-08-01", "2026-08-25", "2026-11-20"):
        (export / f"day={day}").mkdir(parents=True)
        (export / f"day={day}" / "part-00000.parquet").write_bytes(b"x")
    (export / "notes").mkdir()
    result = purge(export, tmp_path / ".trash" / "viewing_sessions", date(2026, 11, 23), retention_days=90)
    assert result.cutoff == "2026-08-25"
    assert sorted(p.name for p in export.iterdir()) == ["day=2026-08-25", "day=2026-11-20", "notes"]
    assert result.files == 1


def test_purge_removes_old_work_leftovers(tmp_path):
    for day in ("2026-11-01", "2026-11-20"):
        (tmp_path / "work" / day / "run").mkdir(parents=True)
    removed = purge_leftovers([tmp_path / "work", tmp_path / "missing"], date(2026, 11, 23), 7)
    assert [p.rsplit("/", 1)[-1] for p in removed] == ["2026-11-01"]


def test_a_day_with_no_valid_row_stops_after_quarantining_it(tmp_path):
    from tests.support.rawday import dumps, event, write_day

    raw = write_day(tmp_path / "raw", [*dumps([event(1, watch_seconds=-1)]), "{broken"], [])
    ctx = RunContext(
        str(POLICY_PATH),
        str(DAY),
        "bad-day",
        str(raw),
        str(tmp_path / "out"),
        str(tmp_path / "work"),
        str(tmp_path / "quarantine"),
    )
    with pytest.raises(RawDataError, match=r"none of the 2 rows for 2026-11-23 is valid"):
        run_stage("pull", ctx)
    first = (tmp_path / "quarantine" / "viewing_sessions" / "day=2026-11-23" / "rejected.parquet").read_bytes()
    # Retries and reruns of the day (another run id) keep one copy, not one per attempt.
    again = RunContext(**{**ctx.__dict__, "run_id": "bad-day-retry"})
    with pytest.raises(RawDataError):
        run_stage("pull", again)
    files = [p for p in (tmp_path / "quarantine" / "viewing_sessions").rglob("*") if p.is_file()]
    assert [p.relative_to(tmp_path / "quarantine").as_posix() for p in files] == [
        "viewing_sessions/day=2026-11-23/rejected.parquet"
    ]
    assert files[0].read_bytes() == first  # the same day gives the same rejected rows


def test_warning_checks_alert_without_blocking(tmp_path):
    out = tmp_path / "out"
    for back in (1, 2):
        day = f"2026-11-2{3 - back}"
        part = out / "viewing_sessions" / f"day={day}"
        part.mkdir(parents=True)
        earlier = sample(day=day)
        earlier["counts"] = {**earlier["counts"], "published_rows": 10_000}
        (part / "_manifest.json").write_text(json.dumps(earlier))
    tonight = sample()
    tonight["counts"] = {**tonight["counts"], "published_rows": 4_000, "input_rows": 5_000, "rejected_rows": 100}
    tonight["anonymization"] = {**tonight["anonymization"], "suppressed_rows_share": 0.06}
    found = warnings(Layout(out), Manifest.model_validate(tonight), 0.10)
    assert any("differ by more than 50%" in w and "last 2 nights" in w for w in found)
    assert any("suppression used 6.0% of the 10% limit" in w for w in found)
    assert any("2.0% of input rows were rejected" in w for w in found)
    steady = sample()
    steady["counts"] = {**steady["counts"], "published_rows": 9_000, "input_rows": 9_100, "rejected_rows": 10}
    assert warnings(Layout(out), Manifest.model_validate(steady), 0.10) == []


def test_export_errors_never_carry_row_values(raw_day, tmp_path):
    """The error of a stage that cannot find its input names paths, never data."""
    ctx = RunContext(
        str(POLICY_PATH), "2026-11-01", "missing", str(raw_day), str(tmp_path / "out"), str(tmp_path / "work")
    )
    with pytest.raises(ExportError) as err:
        run_stage("pull", ctx)
    assert "no viewing_events files for 2026-11-01" in str(err.value)

"""Which day a run exports, how the DAG finds its settings and key, and one night at a time per
export (the turn), with no Airflow needed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from tests.support import POLICY_PATH
from transforms.errors import ExportBusyError, ExportError, KeyConfigError, RawDayMissing
from transforms.orchestration import (
    RUN_PARAMS,
    TaskRuns,
    Turn,
    build_context,
    discover_policies,
    key_ring_from_airflow,
    prepare_run,
    resolve_day,
    run_task,
    wait_for_turn,
)


def test_param_day_wins():
    assert resolve_day("2026-01-02", datetime(2026, 5, 1, tzinfo=UTC), None) == date(2026, 1, 2)


def test_the_logical_date_names_the_day():
    # Scheduled and backfill runs: `<day>T03:00:00+00:00`; `dags test ID 2026-11-23`: midnight.
    assert resolve_day(None, datetime(2026, 11, 23, 3, 0, tzinfo=UTC), None) == date(2026, 11, 23)
    assert resolve_day(None, datetime(2026, 11, 23, 0, 0, tzinfo=UTC), None) == date(2026, 11, 23)
    assert resolve_day(None, datetime(2026, 11, 23, 3, 0, tzinfo=UTC), datetime(2026, 11, 24, 3, tzinfo=UTC)) == date(
        2026, 11, 23
    )


def test_no_logical_date_exports_the_day_before_the_trigger():
    assert resolve_day(None, None, datetime(2026, 11, 24, 0, 30, tzinfo=UTC)) == date(2026, 11, 23)


def test_bad_param_day_is_explained():
    with pytest.raises(ExportError, match="use YYYY-MM-DD"):
        resolve_day("23/11/2026", None, None)


def test_context_reads_variables_with_defaults():
    seen = {}

    def get(name, default):
        seen[name] = default
        return {"viewing_export_raw_root": "/data/raw"}.get(name, default)

    ctx = build_context(POLICY_PATH, get, "2026-11-23", None, None, "manual__1")
    assert ctx.raw_root == "/data/raw" and ctx.day == "2026-11-23"
    assert set(seen) >= {"viewing_export_raw_root", "viewing_export_out_root", "viewing_export_work_root"}


def test_the_engine_comes_from_the_param_then_the_variable():
    def get(name, default):
        return {"viewing_export_engine": "spark"}.get(name, default)

    assert build_context(POLICY_PATH, lambda n, d: d, "2026-11-23", None, None, "r").engine == "duckdb"
    assert build_context(POLICY_PATH, get, "2026-11-23", None, None, "r").engine == "spark"
    assert build_context(POLICY_PATH, get, "2026-11-23", None, None, "r", "duckdb").engine == "duckdb"
    with pytest.raises(ExportError, match="not one of duckdb, spark"):
        build_context(POLICY_PATH, get, "2026-11-23", None, None, "r", "flink")
    assert RUN_PARAMS["engine"]["enum"] == [None, "duckdb", "spark"]


def test_key_from_variable_then_connection():
    ring = key_ring_from_airflow(lambda n, d: None, lambda c: "c" * 32)
    assert ring.active.secret == b"c" * 32
    with pytest.raises(KeyConfigError, match="pseudonymization_secret"):
        key_ring_from_airflow(lambda n, d: None, lambda c: None)


def test_policies_are_discovered_lightly_and_a_broken_one_is_skipped(tmp_path, caplog):
    (tmp_path / "good.yaml").write_text(POLICY_PATH.read_text())
    (tmp_path / "broken.yaml").write_text("owner: x\n")  # no export name
    found = discover_policies(tmp_path)
    assert [h.dag_id for h in found] == ["viewing_sessions_export"]
    assert found[0].kind == "rows" and found[0].schedule == "0 3 * * *"
    assert "broken.yaml" in caplog.text


# One night at a time per export: the turn.


class Run:
    def __init__(self, run_id: str, run_type: str = "scheduled") -> None:
        self.run_id, self.run_type = run_id, run_type


def previous(running: Run | None = None, queued: Run | None = None):
    """Stands in for the Task SDK's get_previous_dagrun(state=...)."""
    return lambda state: {"running": running, "queued": queued}[state]


def turn(tmp_path, run_id: str, day: str = "2026-11-23") -> Turn:
    return Turn.of({"out_root": str(tmp_path), "run_id": run_id, "day": day}, "viewing_sessions")


def alive(*run_ids: str):
    return lambda run_id: run_id in run_ids


def test_one_run_holds_the_turn_until_it_gives_it_back(tmp_path):
    a, b = turn(tmp_path, "backfill__a", "2026-11-22"), turn(tmp_path, "scheduled__b", "2026-11-23")
    assert a.path == tmp_path / ".locks" / "viewing_sessions.turn"
    assert a.take(alive("backfill__a", "scheduled__b")) is None
    assert a.take(alive("backfill__a", "scheduled__b")) is None  # a retry of the holder keeps it
    why = b.take(alive("backfill__a", "scheduled__b"))
    assert "night 2026-11-22" in why and "backfill__a" in why
    b.release()  # not the holder: nothing happens
    assert a.holder()["run_id"] == "backfill__a"
    a.release()
    assert a.holder() is None and not a.path.exists()
    assert b.take(alive("scheduled__b")) is None


def test_a_run_that_is_no_longer_running_holds_nothing(tmp_path, caplog):
    assert turn(tmp_path, "failed__a").take(alive()) is None
    assert turn(tmp_path, "next__b").take(alive("next__b")) is None
    assert turn(tmp_path, "x").holder()["run_id"] == "next__b"
    assert "no longer running; taking it over" in caplog.text


def test_an_unreadable_turn_file_is_free(tmp_path):
    t = turn(tmp_path, "a")
    t.path.parent.mkdir(parents=True)
    t.path.write_text("{not json")
    assert t.take(alive()) is None and t.holder()["run_id"] == "a"


def test_two_processes_never_both_take_the_turn(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from transforms.orchestration import Turn;"
        "t = Turn.of({'out_root': sys.argv[1], 'run_id': sys.argv[2], 'day': 'd'}, 'viewing_sessions');"
        "print(t.take(lambda r: True) is None)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"run{i}"], stdout=subprocess.PIPE, text=True)
        for i in range(6)
    ]
    taken = [p.communicate()[0].strip() for p in procs]
    assert taken.count("True") == 1, taken


def test_nights_wait_for_earlier_nights_then_for_the_turn(tmp_path):
    night = turn(tmp_path, "scheduled__n", "2026-12-05")
    # A backfill of earlier days goes first: its running night, then its queued ones.
    why = wait_for_turn(night, alive(), previous(running=Run("backfill__1", "backfill")))
    assert "earlier night is still running (run backfill__1)" in why
    why = wait_for_turn(night, alive(), previous(queued=Run("backfill__2", "backfill")))
    assert "earlier night of a backfill is queued" in why
    # An earlier scheduled run queued behind this (manual) run waits for it: no deadlock.
    assert wait_for_turn(night, alive(), previous(queued=Run("scheduled__0"))) is None
    assert night.holder()["run_id"] == "scheduled__n"


def test_a_backfill_night_never_waits_for_its_own_queued_nights(tmp_path):
    # Queued earlier nights of the backfill (only with --run-backwards) start when this one ends.
    last = turn(tmp_path, "backfill__3", "2026-11-24")
    assert wait_for_turn(last, alive(), previous(queued=Run("backfill__2", "backfill")), backfill=True) is None
    # A running earlier night is still waited for (--max-active-runs above 1).
    other = turn(tmp_path / "other", "backfill__2", "2026-11-23")
    assert "still running" in wait_for_turn(other, alive(), previous(running=Run("backfill__1", "backfill")), True)


def test_an_earlier_night_waits_for_a_later_one_that_started_first(tmp_path):
    later = turn(tmp_path, "scheduled__n", "2026-12-05")
    assert wait_for_turn(later, alive(), previous()) is None
    earlier = turn(tmp_path, "backfill__1", "2026-11-22")
    why = wait_for_turn(earlier, alive("scheduled__n"), previous())
    assert "night 2026-12-05" in why
    # The holder's own first task, retried, keeps the turn even if an earlier night appeared.
    assert wait_for_turn(later, alive("scheduled__n"), previous(running=Run("backfill__1", "backfill"))) is None


class Fail(Exception):
    pass


def ctx_for(tmp_path, run_id: str = "r1") -> dict:
    return {
        "policy_path": "p",
        "day": "2026-11-23",
        "run_id": run_id,
        "raw_root": "a",
        "out_root": str(tmp_path),
        "work_root": "c",
    }


def test_each_stage_needs_the_turn_and_the_last_one_gives_it_back(tmp_path, monkeypatch):
    from transforms.stages import NAMES

    monkeypatch.setattr("transforms.pipeline.run_stage", lambda *a, **k: {"ok": True})
    mine, other = ctx_for(tmp_path, "r1"), ctx_for(tmp_path, "r2")
    assert run_task(NAMES[0], mine, Fail, turn=Turn.of(mine, "viewing_sessions"), is_live=alive("r1")) == {"ok": True}
    with pytest.raises(ExportBusyError, match="pull waits: night 2026-11-23 of the export \\(run r1\\)"):
        run_task(NAMES[0], other, Fail, turn=Turn.of(other, "viewing_sessions"), is_live=alive("r1", "r2"))
    run_task(NAMES[-1], mine, Fail, turn=Turn.of(mine, "viewing_sessions"), is_live=alive("r1"))
    assert Turn.of(mine, "viewing_sessions").holder() is None


def test_a_test_run_never_waits_for_a_retry(tmp_path, monkeypatch):
    def missing(*a, **k):
        raise RawDayMissing("no viewing_events files for 2026-11-23")

    monkeypatch.setattr("transforms.pipeline.run_stage", missing)
    with pytest.raises(RawDayMissing):
        run_task("pull", ctx_for(tmp_path), Fail)
    with pytest.raises(Fail, match="no viewing_events files for 2026-11-23 \\(a test run: not retried\\)"):
        run_task("pull", ctx_for(tmp_path), Fail, retry=False)


def airflow_context(run_id: str, logical_date: datetime | None, day: str | None = None) -> dict:
    dag_run = SimpleNamespace(run_id=run_id, logical_date=logical_date, run_after=datetime(2026, 12, 6, 3, tzinfo=UTC))
    return {"dag_run": dag_run, "params": {"day": day}}


def test_prepare_returns_the_context_once_the_run_holds_the_turn(tmp_path):
    get = lambda name, default: {"viewing_export_out_root": str(tmp_path)}.get(name, default)  # noqa: E731
    runs = TaskRuns(is_live=alive("scheduled__n"), previous=previous(), test=False)
    ctx = prepare_run(
        POLICY_PATH,
        "viewing_sessions",
        get,
        airflow_context("scheduled__n", datetime(2026, 12, 5, 3, tzinfo=UTC)),
        Fail,
        runs,
    )
    assert ctx["day"] == "2026-12-05" and ctx["run_id"] == "scheduled__n"
    # A backfill night must wait (the sensor pokes again); in a test run it fails at once instead.
    other = airflow_context("backfill__1", datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert prepare_run(POLICY_PATH, "viewing_sessions", get, other, Fail, runs) is None
    with pytest.raises(Fail, match="not a date"):
        prepare_run(POLICY_PATH, "viewing_sessions", get, airflow_context("m", None, "23/11/2026"), Fail, runs)
    with pytest.raises(Fail, match="night 2026-11-22 would wait \\(a test run does not\\)"):
        prepare_run(
            POLICY_PATH, "viewing_sessions", get, other, Fail, TaskRuns(alive("scheduled__n"), previous(), True)
        )

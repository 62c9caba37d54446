"""DAG integrity: team rules as assertions (loads cleanly, owner, tags, retries, gate before publish,
the timetable that names the day exported, one night at a time)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from tests.support import ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors_and_one_dag_per_policy_file(dagbag):
    import yaml

    assert dagbag.import_errors == {}
    exports = {yaml.safe_load(p.read_text())["export"] for p in (ROOT / "policies").glob("*.yaml")}
    assert set(dagbag.dags) == {f"{e}_export" for e in exports}
    assert "viewing_sessions_export" in dagbag.dags


def test_team_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        # Scheduled and manual runs; backfill runs are counted apart, so `prepare` waits for the turn.
        assert dag.max_active_runs == 1, f"{dag_id} must not run two days' exports at once"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_tasks_follow_the_stage_registry_with_validation_before_publish(dagbag):
    from transforms.stages import NAMES

    for dag in dagbag.dags.values():
        publish = dag.get_task("publish")
        assert "validate" in publish.get_flat_relative_ids(upstream=True)
        order = ["prepare", *NAMES]
        assert sorted(t.task_id for t in dag.tasks) == sorted(order)
        # `prepare` hands the run context to every task; the stages form one chain.
        assert dag.get_task("prepare").downstream_task_ids == set(NAMES)
        for up, down in pairwise(NAMES):
            assert dag.get_task(up).downstream_task_ids == {down}


def test_publish_emits_the_extract_asset(dagbag):
    dag = dagbag.dags["viewing_sessions_export"]
    outlets = dag.get_task("publish").outlets
    assert [a.name for a in outlets] == ["viewing_sessions_extract"]


def _serialized(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


def test_the_nightly_run_at_0300_exports_the_day_that_just_ended_and_its_logical_date_names_it(dagbag):
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    from transforms.orchestration import resolve_day

    for dag in dagbag.dags.values():
        assert isinstance(dag.timetable, CronDataIntervalTimetable)
        assert dag.catchup is False
        previous = DataInterval(datetime(2026, 11, 22, 3, tzinfo=UTC), datetime(2026, 11, 23, 3, tzinfo=UTC))
        info = _serialized(dag).timetable.next_dagrun_info(
            last_automated_data_interval=previous, restriction=TimeRestriction(None, None, catchup=True)
        )
        assert info.run_after == datetime(2026, 11, 24, 3, tzinfo=UTC)  # starts at 03:00 UTC
        assert info.logical_date == datetime(2026, 11, 23, 3, tzinfo=UTC)
        assert resolve_day(None, info.logical_date, info.run_after) == date(2026, 11, 23)


#: The command docs/OPERATIONS.md gives to export the days 2026-11-22 to 2026-11-24 (the real
#: backfill in tests/dag/test_backfill.py runs it through the scheduler).
BACKFILL = (
    "airflow backfill create --dag-id viewing_sessions_export --from-date 2026-11-22T03:00:00+00:00 "
    "--to-date 2026-11-24T03:00:00+00:00 --max-active-runs 1"
)


def test_the_documented_backfill_command_exports_the_days_it_names(dagbag):
    from transforms.orchestration import resolve_day

    ops = " ".join((ROOT / "docs" / "OPERATIONS.md").read_text().split())
    assert BACKFILL in ops
    dag = _serialized(dagbag.dags["viewing_sessions_export"])

    def days(first: datetime, last: datetime) -> list[str]:
        # What `airflow backfill create` iterates (airflow/models/backfill.py, _get_info_list).
        infos = dag.iter_dagrun_infos_between(first, last)
        return [str(resolve_day(None, i.logical_date, i.run_after)) for i in infos]

    first, last = datetime(2026, 11, 22, 3, tzinfo=UTC), datetime(2026, 11, 24, 3, tzinfo=UTC)
    assert days(first, last) == ["2026-11-22", "2026-11-23", "2026-11-24"]
    # The trap the docs warn about: a bare last date is its midnight, before that night's 03:00.
    assert days(datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)) == ["2026-11-22", "2026-11-23"]


def test_retry_policy_suits_a_nightly_job(dagbag):
    for dag in dagbag.dags.values():
        for t in _serialized(dag).tasks:
            if t.task_id == "prepare":
                continue
            # Retryable errors only (the rest fail at once): waits of 10-20, 20-40 and 40-60 min.
            assert (t.retries, t.retry_delay, t.retry_exponential_backoff) == (3, timedelta(minutes=10), 2.0)
            assert t.max_retry_delay == timedelta(hours=1)


def test_prepare_waits_for_the_exports_turn_without_holding_a_worker(dagbag):
    for dag in dagbag.dags.values():
        prepare = dag.get_task("prepare")
        assert prepare.mode == "reschedule" and _serialized(dag).get_task("prepare").reschedule
        assert prepare.timeout == 24 * 3600
        assert 1 <= prepare.poke_interval <= 60
        # A retry (Airflow's reschedule race, apache/airflow#71172) costs a minute.
        assert (prepare.retries, prepare.retry_delay) == (5, timedelta(minutes=1))


def test_dag_files_are_thin_and_import_nothing_heavy():
    import subprocess
    import sys

    for path in (ROOT / "dags").glob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) < 120, path.name
        assert "duckdb" not in text and "great_expectations" not in text
    # Parsing the DAG folder must not load the engine, GX or the data libraries.
    code = (
        "import sys, runpy; runpy.run_path('dags/exports.py');"
        "heavy = ('duckdb', 'pyarrow', 'pandas', 'great_expectations', 'transforms.backends');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "print(','.join(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert r.stdout.strip() == "", f"parsing dags/ imports {r.stdout.strip()}"

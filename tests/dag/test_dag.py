"""DAG integrity: team rules as assertions (loads cleanly, owner, tags, retries, gate before publish)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def test_schedule_processes_the_day_that_just_ended(dagbag):
    dag = dagbag.dags["viewing_sessions_export"]
    tick = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    interval = dag.timetable.infer_manual_data_interval(run_after=tick)
    assert interval.start == tick - timedelta(days=1)
    assert interval.end == tick


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

"""DAG integrity: team rules as assertions (loads cleanly, owner, tags, retries, gate before publish)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "viewing_sessions_export" in dagbag.dags


def test_team_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.max_active_runs == 1, f"{dag_id} must not run two days' exports at once"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_validation_is_upstream_of_publish(dagbag):
    dag = dagbag.dags["viewing_sessions_export"]
    publish = dag.get_task("publish")
    assert "validate" in publish.get_flat_relative_ids(upstream=True)
    order = ["prepare", "pull", "pseudonymize", "generalize", "anonymize", "validate", "publish", "purge"]
    for up, down in pairwise(order):
        assert down in dag.get_task(up).downstream_task_ids


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


def test_dag_file_is_thin():
    text = (ROOT / "dags" / "viewing_sessions_export.py").read_text()
    assert len(text.splitlines()) < 150
    assert "duckdb" not in text and "great_expectations" not in text

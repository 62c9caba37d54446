"""
### viewing_sessions export

Nightly, for the UTC day that just ended: pull the raw viewing events and the subscriber
snapshot, pseudonymize viewers with a keyed HMAC, generalize quasi-identifiers, enforce
k-anonymity counted in people, validate with Great Expectations, and publish a Parquet
partition with its manifest and Data Docs. Then purge partitions past retention.

Policy: `policies/viewing_sessions.yaml`. Trigger with the param `day` (YYYY-MM-DD) to
re-run or backfill a day. The work lives in `transforms/`; each task calls one stage.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

POLICY = "viewing_sessions"
EXTRACT = Asset(name="viewing_sessions_extract", uri="file:///viewing_export/viewing_sessions")


def _run(stage: str, ctx: dict, with_key: bool = False) -> dict:
    """Run one stage; data and policy failures fail the task at once, I/O errors retry."""
    from airflow.sdk import Connection, Variable
    from airflow.sdk.exceptions import AirflowFailException

    from transforms.errors import ExportError, RawDataError
    from transforms.orchestration import key_ring_from_airflow
    from transforms.pipeline import RunContext, run_stage

    ring = None
    try:
        if with_key:
            ring = key_ring_from_airflow(
                lambda name, default: Variable.get(name, default=default),
                lambda conn_id: _connection_password(Connection, conn_id),
            )
        return run_stage(stage, RunContext.from_dict(ctx), ring)
    except RawDataError:
        raise  # the day may still be arriving upstream: let retries wait for it
    except ExportError as exc:
        raise AirflowFailException(str(exc)) from None


def _connection_password(connection_cls, conn_id: str) -> str | None:
    try:
        return connection_cls.get(conn_id).password
    except Exception:  # not configured: the caller reports a missing key
        return None


def _on_failure(context) -> None:
    import logging

    ti = context.get("task_instance")
    exc = context.get("exception")
    reason = str(exc).splitlines()[0] if exc else "unknown"
    logging.getLogger("viewing_export").error(
        "viewing_sessions export failed at %s: %s", getattr(ti, "task_id", "?"), reason
    )


@dag(
    dag_id="viewing_sessions_export",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC", interval=timedelta(days=1)),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["privacy", "export", "viewing-logs"],
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "on_failure_callback": _on_failure,
    },
    params={"day": Param(None, type=["null", "string"], format="date", description="UTC day to export")},
)
def viewing_sessions_export():
    @task
    def prepare() -> dict:
        from airflow.sdk import Variable, get_current_context

        from transforms.orchestration import build_context

        c = get_current_context()
        dag_run = c["dag_run"]
        return build_context(
            POLICY,
            lambda name, default: Variable.get(name, default=default),
            c["params"].get("day"),
            c.get("data_interval_start"),
            getattr(dag_run, "run_after", None),
            dag_run.run_id,
        ).to_dict()

    @task
    def pull(ctx: dict) -> dict:
        return _run("pull", ctx)

    @task
    def pseudonymize(ctx: dict) -> dict:
        return _run("pseudonymize", ctx, with_key=True)

    @task
    def generalize(ctx: dict) -> dict:
        return _run("generalize", ctx)

    @task
    def anonymize(ctx: dict) -> dict:
        return _run("anonymize", ctx)

    @task
    def validate(ctx: dict) -> dict:
        return _run("validate", ctx)

    @task(outlets=[EXTRACT])
    def publish(ctx: dict) -> dict:
        return _run("publish", ctx)

    @task
    def purge(ctx: dict) -> dict:
        return _run("purge", ctx)

    ctx = prepare()
    steps = [pull(ctx), pseudonymize(ctx), generalize(ctx), anonymize(ctx), validate(ctx), publish(ctx), purge(ctx)]
    for upstream, downstream in pairwise(steps):
        upstream >> downstream


viewing_sessions_export()

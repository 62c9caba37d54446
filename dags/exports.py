"""
### Export DAGs: one per policy file in `policies/`

Nightly, for the UTC day that just ended: pull the raw viewing events and the subscriber
snapshot, pseudonymize viewers with a keyed HMAC, generalize quasi-identifiers, protect the
export (its policy's `kind`), validate with Great Expectations, publish a Parquet partition
with its manifest and reports, then purge partitions past retention.

Trigger with the param `day` (YYYY-MM-DD) to rerun or backfill a day. The work lives in
`transforms/`; each task calls one stage (`transforms.pipeline.run_stage`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

from transforms.orchestration import discover_policies


def _key_ring():
    from airflow.sdk import Connection, Variable

    from transforms.orchestration import key_ring_from_airflow

    def password(conn_id: str) -> str | None:
        try:
            return Connection.get(conn_id).password
        except Exception:  # not configured: the caller reports a missing key
            return None

    return key_ring_from_airflow(lambda name, default: Variable.get(name, default=default), password)


def _run(stage: str, ctx: dict) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from transforms.orchestration import run_task

    # The key is checked when the run starts (pull), before any raw data is read, and used by pseudonymize.
    return run_task(stage, ctx, AirflowFailException, _key_ring if stage in ("pull", "pseudonymize") else None)


def _on_failure(context) -> None:
    import logging

    from airflow.sdk import Variable

    from transforms.orchestration import failure_reason, send_failure_alert

    ti = context.get("task_instance")
    logging.getLogger("viewing_export").error(
        "%s failed at %s: %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        failure_reason(context.get("exception")),
    )
    # An email through Airflow's SMTP notifier, if `viewing_export_alert_to` is set (README).
    send_failure_alert(context, lambda name, default: Variable.get(name, default=default))


def make_dag(header) -> DAG:
    from transforms.stages import NAMES

    with DAG(
        dag_id=header.dag_id,
        schedule=CronTriggerTimetable(header.schedule, timezone="UTC", interval=timedelta(days=1)),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        doc_md=__doc__ + f"\n\nPolicy: `policies/{header.path.name}` ({header.kind}). {header.description}",
        tags=["privacy", "export", header.kind],
        default_args={
            "owner": header.owner,
            "retries": 2,
            "retry_delay": timedelta(minutes=10),
            "on_failure_callback": _on_failure,
        },
        params={"day": Param(None, type=["null", "string"], format="date", description="UTC day to export")},
    ) as dag:

        @task
        def prepare() -> dict:
            from airflow.sdk import Variable, get_current_context

            from transforms.orchestration import build_context

            c = get_current_context()
            return build_context(
                header.path,
                lambda name, default: Variable.get(name, default=default),
                c["params"].get("day"),
                c.get("data_interval_start"),
                getattr(c["dag_run"], "run_after", None),
                c["dag_run"].run_id,
            ).to_dict()

        ctx = prepare()
        steps = [ctx]
        for name in NAMES:
            outlets = [Asset(name=f"{header.export}_extract", uri=f"file:///viewing_export/{header.export}")]
            step = task(_run, task_id=name, outlets=outlets if name == "publish" else [])
            steps.append(step(name, ctx))
        for upstream, downstream in pairwise(steps):
            upstream >> downstream
    return dag


for _header in discover_policies():
    globals()[_header.dag_id] = make_dag(_header)

"""
### Export DAGs: one per policy file in `policies/`

Nightly, for the UTC day that just ended: pull the raw viewing events and the subscriber
snapshot, pseudonymize viewers with a keyed HMAC, generalize quasi-identifiers, protect the
export (its policy's `kind`), validate with Great Expectations, publish a Parquet partition
with its manifest and reports, then purge partitions past retention.

A run's logical date (`<day>T03:00:00+00:00`) names the day it exports, backfills too; `prepare`
waits for the export's turn: one night at a time, in day order (docs/OPERATIONS.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from airflow.sdk import DAG, Asset, BaseSensorOperator, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from transforms.orchestration import RUN_PARAMS, TURN_SENSOR, discover_policies


def _key_ring():
    from airflow.sdk import Connection, Variable

    from transforms.orchestration import key_ring_from_airflow

    def password(conn_id: str) -> str | None:
        try:
            return Connection.get(conn_id).password
        except Exception:  # not configured: the caller reports a missing key
            return None

    return key_ring_from_airflow(lambda name, default: Variable.get(name, default=default), password)


def _run(stage: str, ctx: dict, export: str) -> dict:
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    from transforms.orchestration import TaskRuns, Turn, run_task

    runs = TaskRuns.of(get_current_context())
    # The key is checked when the run starts (pull), before any raw data is read, and used by pseudonymize.
    ring = _key_ring if stage in ("pull", "pseudonymize") else None
    return run_task(stage, ctx, AirflowFailException, ring, Turn.of(ctx, export), runs.is_live, not runs.test)


class _Prepare(BaseSensorOperator):
    """The run context, once the run holds its export's turn (looks every minute, up to 24 h)."""

    def __init__(self, *, header, **kwargs) -> None:
        super().__init__(task_id="prepare", **TURN_SENSOR, **kwargs)
        self.header = header

    def poke(self, context):
        from airflow.sdk import PokeReturnValue, Variable
        from airflow.sdk.exceptions import AirflowFailException

        from transforms.orchestration import prepare_run

        get = lambda name, default: Variable.get(name, default=default)  # noqa: E731
        ctx = prepare_run(self.header.path, self.header.export, get, context, AirflowFailException)
        return PokeReturnValue(is_done=ctx is not None, xcom_value=ctx)


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
        schedule=CronDataIntervalTimetable(header.schedule, timezone="UTC"),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,  # scheduled and manual runs; backfill runs count apart: see prepare
        doc_md=__doc__ + f"\n\nPolicy: `policies/{header.path.name}` ({header.kind}). {header.description}",
        tags=["privacy", "export", header.kind],
        default_args={
            "owner": header.owner,
            "retries": 3,  # retryable errors only (transforms/errors.py): waits of 10-20, 20-40, 40-60 min
            "retry_delay": timedelta(minutes=10),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(hours=1),
            "on_failure_callback": _on_failure,
        },
        params={name: Param(**spec) for name, spec in RUN_PARAMS.items()},
    ) as dag:
        ctx = _Prepare(header=header).output
        steps = [ctx]
        for name in NAMES:
            outlets = [Asset(name=f"{header.export}_extract", uri=f"file:///viewing_export/{header.export}")]
            step = task(_run, task_id=name, outlets=outlets if name == "publish" else [])
            steps.append(step(name, ctx, header.export))
        for upstream, downstream in pairwise(steps):
            upstream >> downstream
    return dag


for _header in discover_policies():
    globals()[_header.dag_id] = make_dag(_header)

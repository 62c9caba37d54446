"""What the DAGs need beyond the stages, as plain functions tested without Airflow.

The DAG files pass in what Airflow gives them (Variables, params, the data interval); this
module turns that into a run context and a key ring, discovers the policies (one DAG per
policy file), and runs a stage as a task, reading each error's `retryable` flag in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from transforms.context import RunContext
from transforms.errors import ExportError, KeyConfigError
from transforms.ops.keys import KeyRing, ring_from_text

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = PROJECT_ROOT / "policies"
#: Airflow Variables read by the DAG, with their embedded defaults (local folders under var/).
SETTINGS = {
    "raw_root": ("viewing_export_raw_root", PROJECT_ROOT / "var" / "raw"),
    "out_root": ("viewing_export_out_root", PROJECT_ROOT / "var" / "extracts"),
    "work_root": ("viewing_export_work_root", PROJECT_ROOT / "var" / "work"),
    "quarantine_root": ("viewing_export_quarantine_root", PROJECT_ROOT / "var" / "quarantine"),
}
#: The key's Variable name contains "secret", so Airflow masks its value in logs.
KEY_VARIABLE = "pseudonymization_secret"
KEY_CONNECTION = "pseudonymization_key"
#: Failure alerts (optional): who gets them, from whom, and the SMTP connection to send through.
ALERT_TO_VARIABLE = "viewing_export_alert_to"
ALERT_FROM_VARIABLE = "viewing_export_alert_from"
ALERT_CONN_VARIABLE = "viewing_export_alert_conn_id"
DEFAULT_ALERT_CONN = "smtp_default"


@dataclass(frozen=True)
class PolicyHeader:
    """What a DAG needs from a policy file at parse time (no validation, no heavy imports)."""

    path: Path
    export: str
    kind: str
    owner: str
    schedule: str
    description: str

    @property
    def dag_id(self) -> str:
        return f"{self.export}_export"


def discover_policies(folder: Path = POLICY_DIR) -> list[PolicyHeader]:
    """Every `*.yaml` export policy in `folder`, read lightly (the run validates it whole)."""
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            out.append(
                PolicyHeader(
                    path=path,
                    export=str(data["export"]),
                    kind=str(data.get("kind", "rows")),
                    owner=str(data.get("owner", "data-platform")),
                    schedule=str(data.get("schedule", "0 3 * * *")),
                    description=str(data.get("description", "")),
                )
            )
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            log.error("policy %s is not usable for a DAG (%s); no DAG is made for it", path.name, exc)
    return out


def resolve_day(param_day: str | None, interval_start: datetime | None, run_after: datetime | None) -> date:
    """The day a run processes: the `day` param, else the data interval, else the day before run_after.

    Airflow 3 runs can have no logical date (manual or asset-triggered runs); then the run
    exports the UTC day that ended before it was triggered.
    """
    if param_day:
        try:
            return date.fromisoformat(str(param_day))
        except ValueError:
            raise ExportError(f"day param {param_day!r} is not a date; use YYYY-MM-DD") from None
    if interval_start is not None:
        return interval_start.astimezone(UTC).date()
    if run_after is not None:
        return (run_after.astimezone(UTC) - timedelta(days=1)).date()
    raise ExportError("cannot tell which day to export: pass the `day` param (YYYY-MM-DD)")


def build_context(
    policy_path: Path | str,
    get_variable: Callable[[str, str | None], str | None],
    param_day: str | None,
    interval_start: datetime | None,
    run_after: datetime | None,
    run_id: str,
) -> RunContext:
    settings = {name: get_variable(var, str(default)) for name, (var, default) in SETTINGS.items()}
    day = resolve_day(param_day, interval_start, run_after)
    return RunContext(
        policy_path=str(policy_path),
        day=day.isoformat(),
        run_id=run_id,
        raw_root=str(settings["raw_root"]),
        out_root=str(settings["out_root"]),
        work_root=str(settings["work_root"]),
        quarantine_root=settings["quarantine_root"] or None,
    )


def key_ring_from_airflow(
    get_variable: Callable[[str, str | None], str | None],
    get_connection_password: Callable[[str], str | None],
) -> KeyRing:
    """The key from the Variable `pseudonymization_secret`, else the Connection's password."""
    text = get_variable(KEY_VARIABLE, None)
    if text:
        return ring_from_text(text, f"Airflow Variable {KEY_VARIABLE}")
    text = get_connection_password(KEY_CONNECTION)
    if text:
        return ring_from_text(text, f"Airflow Connection {KEY_CONNECTION}")
    raise KeyConfigError(
        f"no pseudonymization key: set the Airflow Variable {KEY_VARIABLE} (e.g. "
        f"AIRFLOW_VAR_{KEY_VARIABLE.upper()}) or the Connection {KEY_CONNECTION} (its password), "
        "from your secrets backend"
    )


def run_task(
    stage: str,
    ctx: dict,
    fail: Callable[[str], BaseException],
    ring: Callable[[], KeyRing] | None = None,
) -> dict:
    """Run one stage as an Airflow task.

    `ring`, where given, is loaded (and so checked) before the stage starts: the DAG passes it
    to the first stage too, so a missing, short or demo key fails the run before any raw data
    is read. A retryable error (the raw day not there yet, a lock held, a filesystem error, any
    OSError) is raised as is, for Airflow's retries; any other is raised as `fail(message)`,
    which the DAG maps to AirflowFailException so the task fails at once: an unexpected error
    (a bug) fails at once too, with its class named and its traceback kept in the task log.
    """
    from transforms.pipeline import run_stage

    try:
        return run_stage(stage, RunContext.from_dict(ctx), ring() if ring else None)
    except ExportError as exc:
        if exc.retryable:
            raise
        raise fail(str(exc)) from None
    except OSError:
        raise  # disk, permissions, a mount away: waiting can help
    except Exception as exc:
        raise fail(f"unexpected {type(exc).__name__} in {stage} (a bug: see the traceback above)") from exc


def failure_reason(exc: BaseException | None) -> str:
    """The first line of a task's error (what failed and how to fix it), for logs and alerts."""
    if exc is None:
        return "unknown"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def failure_message(dag_id: str, task_id: str, day: str | None, reason: str) -> tuple[str, str]:
    """The subject and HTML body of a failure alert: what failed and how to fix it. `reason` is
    the error's first line: the project's errors say what and how to fix, and never carry data
    or key material (unexpected errors are reduced to their class by `run_task`)."""
    import html

    when = f" for {day}" if day else ""
    subject = f"[viewing-export] {dag_id} failed at {task_id}{when}"
    body = (
        f"<p><b>{html.escape(dag_id)}</b> failed at task <b>{html.escape(task_id)}</b>{html.escape(when)}.</p>"
        f"<p>Reason: {html.escape(reason)}</p>"
        "<p>Nothing was published for that night: the previous partition, if any, is unchanged. "
        "What to do for each kind of failure: docs/OPERATIONS.md, 'When it fails'; the task log has "
        "the details. Rerun the night once fixed: trigger the DAG with the param <code>day</code>.</p>"
    )
    return subject, body


def send_failure_alert(
    context: dict,
    get_variable: Callable[[str, str | None], str | None],
    notifier: Callable[..., Any] | None = None,
) -> bool:
    """Send the failure alert through Airflow's SMTP notifier when `viewing_export_alert_to` is
    set (comma-separated addresses); False when alerts are not configured. A failure to send is
    logged, never raised: the task has failed already."""
    to = get_variable(ALERT_TO_VARIABLE, None)
    if not to:
        return False
    ti = context.get("task_instance")
    params = context.get("params") or {}
    subject, body = failure_message(
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        params.get("day") or context.get("ds"),
        failure_reason(context.get("exception")),
    )
    if notifier is None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier as notifier
    try:
        notifier(
            to=[a.strip() for a in to.split(",") if a.strip()],
            from_email=get_variable(ALERT_FROM_VARIABLE, None),
            subject=subject,
            html_content=body,
            smtp_conn_id=get_variable(ALERT_CONN_VARIABLE, None) or DEFAULT_ALERT_CONN,
        ).notify(context)
    except Exception as exc_send:  # the alert is best effort; the failure is in the task log anyway
        log.error("failure alert not sent (%s): %s", type(exc_send).__name__, str(exc_send).splitlines()[0][:200])
        return False
    return True

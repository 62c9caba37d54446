"""What the DAGs need beyond the stages, as plain functions tested without Airflow.

The DAG files pass in what Airflow gives them (Variables, params, the logical date, what the
Task SDK says about other runs); this module turns that into a run context and a key ring,
discovers the policies (one DAG per policy file), keeps one night at a time per export (`Turn`,
`wait_for_turn`), and runs a stage as a task, reading each error's `retryable` flag in one place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from transforms import storage
from transforms.context import ENGINES, RunContext
from transforms.errors import ExportBusyError, ExportError, KeyConfigError
from transforms.ops.keys import KeyRing, ring_from_text
from transforms.ops.locks import object_lock

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = PROJECT_ROOT / "policies"
#: Airflow Variables read by the DAG, with their embedded defaults (local folders under var/).
SETTINGS = {
    "raw_root": ("viewing_export_raw_root", PROJECT_ROOT / "var" / "raw"),
    "out_root": ("viewing_export_out_root", PROJECT_ROOT / "var" / "extracts"),
    "work_root": ("viewing_export_work_root", PROJECT_ROOT / "var" / "work"),
    "quarantine_root": ("viewing_export_quarantine_root", PROJECT_ROOT / "var" / "quarantine"),
    # The default engine of runs that do not pass the `engine` param.
    "engine": ("viewing_export_engine", "duckdb"),
}
#: A run's params (Airflow `Param` arguments): the day, and the engine of the heavy steps.
RUN_PARAMS: dict[str, dict[str, Any]] = {
    "day": {"default": None, "type": ["null", "string"], "format": "date", "description": "UTC day to export"},
    "engine": {
        "default": None,
        "type": ["null", "string"],
        "enum": [None, *ENGINES],
        "description": "engine of the heavy steps (default: the Variable viewing_export_engine, else duckdb)",
    },
}
#: The key's Variable name contains "secret", so Airflow masks its value in logs.
KEY_VARIABLE = "pseudonymization_secret"
KEY_CONNECTION = "pseudonymization_key"
#: Failure alerts (optional): who gets them, from whom, and the SMTP connection to send through.
ALERT_TO_VARIABLE = "viewing_export_alert_to"
ALERT_FROM_VARIABLE = "viewing_export_alert_from"
ALERT_CONN_VARIABLE = "viewing_export_alert_conn_id"
DEFAULT_ALERT_CONN = "smtp_default"
#: `DAG.test()` (so `airflow dags test`) creates its run with this triggering user
#: (airflow/sdk/definitions/dag.py, `DAG.test`): such a run never waits for a retry or a turn.
TEST_RUN_USER = "dag_test"
#: The `prepare` sensor waiting for the export's turn: it looks every minute (tests set
#: VIEWING_EXPORT_TURN_POKE_SECONDS lower) without holding a worker slot, and fails (and
#: alerts) after 24 h. Its own retries come after a minute: Airflow 3.2-3.3 sometimes fails a
#: reschedule-mode sensor when a poke's executor event arrives after the next poke started
#: (apache/airflow#71172); that costs a minute, not the stages' 10-20.
TURN_SENSOR = {
    "poke_interval": int(os.environ.get("VIEWING_EXPORT_TURN_POKE_SECONDS", "60")),
    "timeout": 24 * 3600,
    "mode": "reschedule",
    "retries": 5,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 0,
}


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


def resolve_day(param_day: str | None, logical_date: datetime | None, run_after: datetime | None) -> date:
    """The day a run processes: the `day` param, else the logical date's UTC day, else the day
    before run_after.

    The DAGs' timetable (`CronDataIntervalTimetable`, one data interval per day from 03:00 UTC)
    gives scheduled and backfill runs the logical date `<day>T03:00:00+00:00` of the day they
    export, so the logical date shown for a run names its day; a run started with an explicit
    logical date (`airflow dags test ID 2026-11-23`, `dags trigger --logical-date`) exports
    that date's day. Airflow 3 runs can have no logical date (manual runs without one,
    asset-triggered runs); then the run exports the UTC day that ended before it was triggered.
    """
    if param_day:
        try:
            return date.fromisoformat(str(param_day))
        except ValueError:
            raise ExportError(f"day param {param_day!r} is not a date; use YYYY-MM-DD") from None
    if logical_date is not None:
        return logical_date.astimezone(UTC).date()
    if run_after is not None:
        return (run_after.astimezone(UTC) - timedelta(days=1)).date()
    raise ExportError("cannot tell which day to export: pass the `day` param (YYYY-MM-DD)")


def build_context(
    policy_path: Path | str,
    get_variable: Callable[[str, str | None], str | None],
    param_day: str | None,
    logical_date: datetime | None,
    run_after: datetime | None,
    run_id: str,
    param_engine: str | None = None,
) -> RunContext:
    settings = {name: get_variable(var, str(default)) for name, (var, default) in SETTINGS.items()}
    day = resolve_day(param_day, logical_date, run_after)
    engine = str(param_engine or settings["engine"] or "duckdb")
    if engine not in ENGINES:
        raise ExportError(f"engine {engine!r} is not one of {', '.join(ENGINES)}; pass the `engine` param or set it")
    return RunContext(
        policy_path=str(policy_path),
        day=day.isoformat(),
        run_id=run_id,
        raw_root=str(settings["raw_root"]),
        out_root=str(settings["out_root"]),
        work_root=str(settings["work_root"]),
        quarantine_root=settings["quarantine_root"] or None,
        engine=engine,
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


@dataclass(frozen=True)
class Turn:
    """One night at a time per export, whatever started the runs (schedule, backfill, trigger).

    The run named in `<out-root>/.locks/<export>.turn` (JSON: run id, day, since) is the only
    run of its export that runs stages. The first task takes the turn (`wait_for_turn`), every
    stage checks that its run still holds it (taking it back if it is free, e.g. after a
    cleared task), and the last stage gives it back. A holder whose Airflow run is no longer
    queued or running (it failed, was marked or deleted) holds nothing: the next run takes
    the turn over, so a crash never blocks the export. Reads and writes happen under an flock
    of `<export>.turn.lock` beside it, like the day locks, so two runs never both take it.
    Airflow alone cannot give this: backfill runs are counted apart from the DAG's
    `max_active_runs`, and a one-slot pool serializes tasks, not runs (docs/OPERATIONS.md).
    """

    path: Path
    run_id: str
    day: str

    @classmethod
    def of(cls, ctx: dict, export: str) -> Turn:
        return cls(storage.location(ctx["out_root"]) / ".locks" / f"{export}.turn", str(ctx["run_id"]), str(ctx["day"]))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        if storage.is_remote(lock):  # a few reads and a write: a lock dead for a minute is stale
            with object_lock(lock, "the export's turn", 60.0, wait=120.0):
                yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holder(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("turn file %s is unreadable; taken as free", self.path)
            return None
        return data if isinstance(data, dict) and data.get("run_id") else None

    def take(self, is_live: Callable[[str], bool]) -> str | None:
        """Take or keep the turn: None once this run holds it, else why the run must wait."""
        with self._locked():
            held = self.holder()
            if held and held["run_id"] != self.run_id:
                if is_live(held["run_id"]):
                    return (
                        f"night {held.get('day')} of the export (run {held['run_id']}) holds its turn "
                        f"since {held.get('since')}; one night runs at a time"
                    )
                log.warning("run %s held the export's turn but is no longer running; taking it over", held["run_id"])
            if not held or held["run_id"] != self.run_id:
                since = datetime.now(UTC).isoformat(timespec="seconds")
                text = json.dumps({"run_id": self.run_id, "day": self.day, "since": since})
                if storage.is_remote(self.path):
                    self.path.write_text(text)  # one PUT: readers see the old holder or the new
                else:
                    partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
                    partial.write_text(text)
                    os.replace(partial, self.path)
                log.info("run %s (night %s) takes the export's turn", self.run_id, self.day)
            return None

    def release(self) -> None:
        with self._locked():
            held = self.holder()
            if held and held["run_id"] == self.run_id:
                self.path.unlink()
                log.info("run %s (night %s) gives the export's turn back", self.run_id, self.day)


def _is_backfill(run: Any) -> bool:
    return str(getattr(run.run_type, "value", run.run_type)) == "backfill"


def earlier_night(previous: Callable[[str], Any], backfill: bool = False) -> str | None:
    """Why this run waits for an earlier night, or None.

    `previous(state)` is the latest run with an earlier logical date in that state (the Task
    SDK's `get_previous_dagrun`). A run waits while an earlier one is running. A run outside a
    backfill also waits while the latest earlier queued run belongs to a backfill (the backfill
    starts it by itself), so the nightly run waits for a backfill of earlier days. Other queued
    runs are not waited for: an earlier scheduled run queued behind a manual one waits for it
    through `max_active_runs`, and a backfill's own earlier nights are queued behind this one
    only with `--run-backwards` (Airflow starts them when this one ends): waiting would deadlock.
    """
    running = previous("running")
    if running is not None:
        return f"an earlier night is still running (run {running.run_id}); nights run in day order"
    queued = None if backfill else previous("queued")
    if queued is not None and _is_backfill(queued):
        return f"an earlier night of a backfill is queued (run {queued.run_id}); nights run in day order"
    return None


def wait_for_turn(
    turn: Turn, is_live: Callable[[str], bool], previous: Callable[[str], Any], backfill: bool = False
) -> str | None:
    """The first task's check: None once the run holds its export's turn, else why it waits.

    A run that holds the turn already (a retried or cleared first task) keeps it; otherwise it
    waits for earlier nights (`earlier_night`), then for the night holding the turn.
    """
    held = turn.holder()
    if held and held["run_id"] == turn.run_id:
        return None
    return earlier_night(previous, backfill) or turn.take(is_live)


@dataclass(frozen=True)
class TaskRuns:
    """What a task learns about its DAG's runs through the Task SDK (no metadata DB access)."""

    #: Is the run with this id queued or running?
    is_live: Callable[[str], bool]
    #: The latest run with an earlier logical date in a state, or None.
    previous: Callable[[str], Any]
    #: Is this run an `airflow dags test` (never waits for a retry or a turn)?
    test: bool
    #: Is this run part of a backfill?
    backfill: bool = False

    @classmethod
    def of(cls, context: Any) -> TaskRuns:
        ti, dag_run = context["ti"], context["dag_run"]
        return cls(
            is_live=lambda run_id: ti.get_dr_count(ti.dag_id, run_ids=[run_id], states=["queued", "running"]) > 0,
            previous=lambda state: ti.get_previous_dagrun(state=state),
            test=getattr(dag_run, "triggering_user_name", None) == TEST_RUN_USER,
            backfill=_is_backfill(dag_run),
        )


def prepare_run(
    policy_path: Path | str,
    export: str,
    get_variable: Callable[[str, str | None], str | None],
    context: Any,
    fail: Callable[[str], BaseException],
    runs: TaskRuns | None = None,
) -> dict | None:
    """The first task (a sensor): the run context once the run holds its export's turn, else
    None (poke again later). A test run that would have to wait fails at once instead."""
    dag_run = context["dag_run"]
    try:
        ctx = build_context(
            policy_path,
            get_variable,
            (context.get("params") or {}).get("day"),
            getattr(dag_run, "logical_date", None),
            getattr(dag_run, "run_after", None),
            dag_run.run_id,
            (context.get("params") or {}).get("engine"),
        ).to_dict()
    except ExportError as exc:  # a bad `day` or `engine` param: no retry fixes it
        raise fail(str(exc)) from None
    runs = runs or TaskRuns.of(context)
    why = wait_for_turn(Turn.of(ctx, export), runs.is_live, runs.previous, runs.backfill)
    if why is None:
        return ctx
    if runs.test:
        raise fail(f"night {ctx['day']} would wait (a test run does not): {why}")
    log.info("night %s waits: %s", ctx["day"], why)
    return None


def run_task(
    stage: str,
    ctx: dict,
    fail: Callable[[str], BaseException],
    ring: Callable[[], KeyRing] | None = None,
    turn: Turn | None = None,
    is_live: Callable[[str], bool] | None = None,
    retry: bool = True,
) -> dict:
    """Run one stage as an Airflow task.

    `ring`, where given, is loaded (and so checked) before the stage starts: the DAG passes it
    to the first stage too, so a missing, short or demo key fails the run before any raw data
    is read. A retryable error (the raw day not delivered yet, a lock or the export's turn
    held, a filesystem error, any OSError) is raised as is, for Airflow's retries; any other is
    raised as `fail(message)`, which the DAG maps to AirflowFailException so the task fails at
    once: an unexpected error (a bug) fails at once too, with its class named and its
    traceback kept in the task log. With `retry=False` (a test run) every error fails at once.

    `turn`, where given, must be held by this run (taken back if free) before the stage
    starts, and is given back after the last stage.
    """
    from transforms.pipeline import NAMES, run_stage

    try:
        if turn is not None:
            why = turn.take(is_live or (lambda run_id: True))
            if why:
                raise ExportBusyError(f"{stage} waits: {why}")
        out = run_stage(stage, RunContext.from_dict(ctx), ring() if ring else None)
    except ExportError as exc:
        if exc.retryable and retry:
            raise
        raise fail(str(exc) + ("" if not exc.retryable else " (a test run: not retried)")) from None
    except OSError as exc:
        if retry:
            raise  # disk, permissions, a mount away: waiting can help
        raise fail(f"{type(exc).__name__} in {stage}: {exc} (a test run: not retried)") from exc
    except Exception as exc:
        raise fail(f"unexpected {type(exc).__name__} in {stage} (a bug: see the traceback above)") from exc
    if turn is not None and stage == NAMES[-1]:
        turn.release()
    return out


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

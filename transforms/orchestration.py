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

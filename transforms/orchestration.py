"""What the DAG needs beyond the stages: settings, the run context and the key, as plain functions.

The DAG passes in what Airflow gives it (Variables, params, the data interval), so all of this
is tested without Airflow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from transforms.errors import KeyConfigError
from transforms.keys import KeyRing, ring_from_text
from transforms.pipeline import RunContext, resolve_day

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


def build_context(
    policy_name: str,
    get_variable: Callable[[str, str | None], str | None],
    param_day: str | None,
    interval_start: datetime | None,
    run_after: datetime | None,
    run_id: str,
) -> RunContext:
    settings = {name: get_variable(var, str(default)) for name, (var, default) in SETTINGS.items()}
    day = resolve_day(param_day, interval_start, run_after)
    return RunContext(
        policy_path=str(POLICY_DIR / f"{policy_name}.yaml"),
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

"""Shared fixtures. Airflow's environment is set here, before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DAY = date(2026, 11, 23)
# A fixed test key (32 bytes). Tests look for it, and its pads, in every output.
TEST_SECRET = bytes(range(100, 132))
POLICY_PATH = ROOT / "policies" / "viewing_sessions.yaml"


@pytest.fixture(scope="session")
def policy():
    from transforms.policy import load_policy

    return load_policy(POLICY_PATH)


@pytest.fixture(scope="session")
def ring():
    from transforms.keys import Key, KeyRing

    return KeyRing("t1", {"t1": Key("t1", TEST_SECRET)})


@pytest.fixture(scope="session")
def raw_day(tmp_path_factory) -> Path:
    """A generated day: 6,000 clean events plus dirty lines of every kind (fixed seed)."""
    from transforms.generate import generate_day

    root = tmp_path_factory.mktemp("raw")
    generate_day(root, DAY, events=6000, seed=3, dirty_fraction=0.004)
    return root


def raw_identifier_values(raw_root: Path, day: date = DAY) -> dict[str, set[str]]:
    """Every direct identifier value of the raw day, by column (for leak checks)."""
    import duckdb

    ev = str(raw_root / "viewing_events" / f"dt={day}" / "*.jsonl.gz")
    con = duckdb.connect()
    out: dict[str, set[str]] = {}
    for col in ("account_id", "profile_id", "profile_name", "email", "ip_address", "device_id", "event_id"):
        rows = con.execute(
            f"SELECT DISTINCT {col} FROM read_json(?, format='newline_delimited', ignore_errors=true, "
            "columns={'event_id':'VARCHAR','account_id':'VARCHAR','profile_id':'VARCHAR','profile_name':'VARCHAR',"
            "'email':'VARCHAR','ip_address':'VARCHAR','device_id':'VARCHAR'})",
            [ev],
        ).fetchall()
        out[col] = {r[0] for r in rows if r[0]}
    return out

"""Running the real DAGs in a subprocess, with the project's Airflow settings as environment variables."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from . import ROOT, TEST_SECRET


def airflow_env(raw: Path, out: Path, key: bytes = TEST_SECRET) -> dict[str, str]:
    """The DAG's settings as AIRFLOW_VAR_* variables: raw zone, output folders, the test key."""
    return {
        "AIRFLOW_VAR_VIEWING_EXPORT_RAW_ROOT": str(raw),
        "AIRFLOW_VAR_VIEWING_EXPORT_OUT_ROOT": str(out / "extracts"),
        "AIRFLOW_VAR_VIEWING_EXPORT_WORK_ROOT": str(out / "work"),
        "AIRFLOW_VAR_VIEWING_EXPORT_QUARANTINE_ROOT": str(out / "quarantine"),
        "AIRFLOW_VAR_PSEUDONYMIZATION_SECRET": "base64:" + base64.b64encode(key).decode(),
    }


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def run_dag(dag_id: str, logical_date: str, env: dict[str, str], conf: dict | None = None) -> tuple[dict, str]:
    """Run the DAG with dag.test() in a subprocess; return its final state and everything it printed.

    The logical date names the day exported (`<day>T03:00:00+00:00`) unless `conf` sets `day`. A
    `dag.test()` run never waits for a retry or the export's turn: such an error fails it at once.
    """
    args = [sys.executable, "-m", "tests.support.run_dag", dag_id, logical_date]
    if conf is not None:
        args.append(json.dumps(conf))
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=600)
    logs = r.stdout + r.stderr
    if r.returncode != 0:
        raise AssertionError(f"the DAG run process failed ({r.returncode}):\n{logs[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1]), logs

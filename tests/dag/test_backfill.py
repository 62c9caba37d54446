"""A real three-day Airflow backfill beside the nightly run: the scheduler runs the nights one
at a time, in day order, and each run exports the day its logical date names, with the
command docs/OPERATIONS.md gives.

It runs Airflow's own services on a temporary SQLite metadata DB: the Execution API
(`airflow api-server --apps execution`, which task processes talk to in Airflow 3) and
`airflow scheduler` with its LocalExecutor. The DAGs are serialized once with
`airflow dags reserialize`, so no dag-processor is needed. Unpausing the DAG makes the
scheduler create the nightly run of the last complete day too (catchup is off): the issue's
case, where it ran side by side with the backfill. Each service runs in its own process
group, killed at the end whatever happens (about 100 s on 2 cores).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.support import ROOT, TEST_SECRET

pytestmark = pytest.mark.slow

DAYS = [date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)]
DAG_ID = "viewing_sessions_export"
#: The documented command (docs/OPERATIONS.md, "Backfill a range") for the days 22 to 24.
BACKFILL = [
    "backfill",
    "create",
    "--dag-id",
    DAG_ID,
    "--from-date",
    "2026-11-22T03:00:00+00:00",
    "--to-date",
    "2026-11-24T03:00:00+00:00",
    "--max-active-runs",
    "1",
]
TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return env | {
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": "backfill-test-" + "x" * 32,
        "VIEWING_EXPORT_TURN_POKE_SECONDS": "15",  # well above the scheduler's event latency
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "false",
        "AIRFLOW_VAR_VIEWING_EXPORT_RAW_ROOT": str(tmp / "raw"),
        "AIRFLOW_VAR_VIEWING_EXPORT_OUT_ROOT": str(tmp / "extracts"),
        "AIRFLOW_VAR_VIEWING_EXPORT_WORK_ROOT": str(tmp / "work"),
        "AIRFLOW_VAR_VIEWING_EXPORT_QUARANTINE_ROOT": str(tmp / "quarantine"),
        "AIRFLOW_VAR_PSEUDONYMIZATION_SECRET": "base64:" + base64.b64encode(TEST_SECRET).decode(),
    }


def _airflow(env: dict, *args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, f"airflow {' '.join(args)} failed:\n{(r.stdout + r.stderr)[-3000:]}"
    return r.stdout


def _nightly_logical_date(db: Path) -> str:
    """The logical date of the scheduled run the scheduler will create first (the last complete day)."""
    with sqlite3.connect(db) as con:
        return con.execute("SELECT next_dagrun FROM dag WHERE dag_id = ?", (DAG_ID,)).fetchone()[0]


def _runs(db: Path) -> list[dict]:
    with sqlite3.connect(db) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute(
            "SELECT run_id, run_type, state, logical_date, start_date, end_date FROM dag_run WHERE dag_id = ?",
            (DAG_ID,),
        ).fetchall()
    return [dict(r) for r in rows]


def _stage_spans(db: Path) -> dict[str, tuple[str, str]]:
    """run id -> (first stage start, last stage end), from the metadata DB. `prepare` is left
    out: a run waiting for its turn pokes while another night works, and that is the point."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT run_id, min(start_date), max(end_date) FROM task_instance "
            "WHERE dag_id = ? AND task_id != 'prepare' GROUP BY run_id",
            (DAG_ID,),
        ).fetchall()
    return {run_id: (start, end) for run_id, start, end in rows}


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the group: task processes the executor started
        except ProcessLookupError:
            pass
        p.wait()


def test_a_three_day_backfill_runs_one_night_at_a_time_in_day_order(tmp_path):
    from devtools.fake_logs import generate_day

    started = time.monotonic()
    env = _env(tmp_path, _free_port())
    db = tmp_path / "airflow" / "airflow.db"
    _airflow(env, "db", "migrate")
    _airflow(env, "dags", "reserialize")
    nightly = date.fromisoformat(_nightly_logical_date(db)[:10])
    assert nightly > DAYS[-1]
    for day in [*DAYS, nightly]:
        generate_day(tmp_path / "raw", day, events=2000, seed=7)
    _airflow(env, *BACKFILL)
    assert len(_runs(db)) == 3
    _airflow(env, "dags", "unpause", DAG_ID)  # runs of a paused DAG never start, backfill runs neither

    logs = tmp_path / "services.log"
    procs: list[subprocess.Popen] = []
    try:
        with open(logs, "w") as out:
            for args in (["api-server", "--apps", "execution", "--workers", "1"], ["scheduler"]):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "airflow", *args],
                        env=env,
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            while time.monotonic() - started < TIMEOUT:
                runs = _runs(db)
                if len(runs) == 4 and all(r["state"] in ("success", "failed") for r in runs):
                    break
                assert all(p.poll() is None for p in procs), "an Airflow service died: see services.log"
                time.sleep(2)
    finally:
        _stop(procs)
    runs = sorted(_runs(db), key=lambda r: r["logical_date"])
    tail = logs.read_text()[-4000:]
    assert [(r["run_type"], r["state"]) for r in runs] == [("backfill", "success")] * 3 + [("scheduled", "success")], (
        f"{runs}\n{tail}"
    )

    # Each run's logical date names the day it exported, and that day was published.
    days = [*DAYS, nightly]
    assert [r["logical_date"][:10] for r in runs] == [str(d) for d in days]
    export = tmp_path / "extracts" / "viewing_sessions"
    manifests = [json.loads((export / f"day={d}" / "_manifest.json").read_text()) for d in days]
    assert [m["day"] for m in manifests] == [str(d) for d in days]
    assert [m["run_id"] for m in manifests] == [r["run_id"] for r in runs]

    # One night at a time, in day order, the nightly run after the backfill of earlier days:
    # each run's stages all ended before the next run's began.
    spans = _stage_spans(db)
    ordered = [spans[r["run_id"]] for r in runs]
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert datetime.fromisoformat(end) <= datetime.fromisoformat(start), ordered
    # The export's turn was given back by the last night.
    assert not (tmp_path / "extracts" / ".locks" / "viewing_sessions.turn").exists()

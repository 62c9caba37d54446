"""End to end: a generated day through the real DAG (dag.test), assertions on what was published."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from transforms.keys import derive_domain_key, hmac_pads

from .conftest import DAY, ROOT, TEST_SECRET, raw_identifier_values

TOKEN = re.compile(r"[A-Za-z0-9@._:+/=-]+")


def airflow_env(raw: Path, out: Path) -> dict[str, str]:
    """The DAG's settings as AIRFLOW_VAR_* variables: raw zone, output folders, the test key."""
    return {
        "AIRFLOW_VAR_VIEWING_EXPORT_RAW_ROOT": str(raw),
        "AIRFLOW_VAR_VIEWING_EXPORT_OUT_ROOT": str(out / "extracts"),
        "AIRFLOW_VAR_VIEWING_EXPORT_WORK_ROOT": str(out / "work"),
        "AIRFLOW_VAR_VIEWING_EXPORT_QUARANTINE_ROOT": str(out / "quarantine"),
        "AIRFLOW_VAR_PSEUDONYMIZATION_SECRET": "base64:" + base64.b64encode(TEST_SECRET).decode(),
    }


@pytest.fixture(scope="module")
def published(raw_day, tmp_path_factory, capfd_module):
    import os

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    out = tmp_path_factory.mktemp("out")
    env = airflow_env(raw_day, out)
    os.environ.update(env)
    try:
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(ROOT / "dags")).dags["viewing_sessions_export"]
        run = dag.test(logical_date=datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
    finally:
        for name in env:
            os.environ.pop(name, None)
    captured = capfd_module.readouterr()
    return {"run": run, "out": out, "logs": captured.out + captured.err}


@pytest.fixture(scope="module")
def capfd_module(request):
    """Module-scoped stdout/stderr capture (pytest's capfd is function-scoped)."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    from _pytest.capture import CaptureFixture, FDCapture

    fixture = CaptureFixture(FDCapture, request, _ispytest=True)
    capman.set_fixture(fixture)
    fixture._start()
    yield fixture
    fixture.close()
    capman.unset_fixture()


def _partition(published) -> Path:
    return published["out"] / "extracts" / "viewing_sessions" / f"day={DAY}"


def test_run_succeeds_and_publishes_a_partition(published):
    assert published["run"].state == "success"
    part = _partition(published)
    assert (part / "part-00000.parquet").exists()
    assert (part / "_manifest.json").exists()
    assert (part / "_reports" / "data_docs" / "index.html").exists()
    # The work folder holds raw-derived rows: it is gone once the run has published.
    work = published["out"] / "work" / "viewing_sessions" / str(DAY)
    assert not work.exists() or not any(work.iterdir())


def test_every_combination_has_k_people(published, policy):
    files = str(_partition(published) / "*.parquet")
    qis = ", ".join(policy.qi_columns)
    smallest = duckdb.sql(
        f"SELECT min(n) FROM (SELECT count(DISTINCT viewer_id) n FROM read_parquet('{files}') GROUP BY {qis})"
    ).fetchall()[0][0]
    assert smallest >= policy.privacy.k


def test_counts_reconcile_and_manifest_is_complete(published):
    part = _partition(published)
    manifest = json.loads((part / "_manifest.json").read_text())
    c = manifest["counts"]
    assert c["input_rows"] == c["published_rows"] + c["suppressed_rows"] + c["rejected_rows"]
    assert sum(c["rejected_by_reason"].values()) == c["rejected_rows"] > 0
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{part / '*.parquet'}')").fetchall()[0][0]
    assert rows == c["published_rows"]
    for f in manifest["files"]:
        assert hashlib.sha256((part / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert manifest["pseudonym"]["key_id"] == "k1"
    assert manifest["policy"]["digest"].startswith("sha256:")
    assert manifest["validation"]["success"] is True
    assert set(manifest["levels"]) == set(manifest["quasi_identifiers"])


def _text_under(folder: Path) -> str:
    parts = []
    for p in folder.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".html", ".md", ".txt", ".csv"):
            parts.append(p.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def test_no_raw_identifier_anywhere_in_the_output(published, raw_day):
    raw = raw_identifier_values(raw_day)
    out = published["out"] / "extracts"
    values: set[str] = set()
    con = duckdb.connect()
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}/**/*.parquet')").fetchall()]
    for col in cols:
        values |= {
            str(v[0]) for v in con.execute(f"SELECT DISTINCT {col} FROM read_parquet('{out}/**/*.parquet')").fetchall()
        }
    tokens = set(TOKEN.findall(_text_under(out))) | set(TOKEN.findall(published["logs"]))
    for column, ids in raw.items():
        if column == "profile_name":  # first names: compare whole published values only
            assert not (ids & values), "a profile name was published"
            continue
        assert not (ids & values), f"a raw {column} value is in the extract"
        assert not (ids & tokens), f"a raw {column} value is in a report or a log line"


def test_no_unkeyed_hash_of_an_identifier_is_published(published, raw_day):
    raw = raw_identifier_values(raw_day)
    out = published["out"] / "extracts"
    published_values = {
        str(v[0]).split(":")[-1]
        for v in duckdb.sql(f"SELECT DISTINCT viewer_id FROM read_parquet('{out}/**/*.parquet')").fetchall()
    }
    for account in list(raw["account_id"])[:200]:
        for algo in ("md5", "sha1", "sha256"):
            digest = hashlib.new(algo, account.encode()).hexdigest()
            assert digest[:32] not in published_values


def test_key_material_never_appears(published):
    domain_key = derive_domain_key(__import__("transforms.keys", fromlist=["Key"]).Key("k1", TEST_SECRET), "analytics")
    ipad, opad = hmac_pads(domain_key)
    needles = [TEST_SECRET, domain_key, ipad, opad]
    forms = set()
    for n in needles:
        forms |= {n.hex(), base64.b64encode(n).decode()}
    text = _text_under(published["out"]) + published["logs"]
    for form in forms:
        assert form not in text
    for p in published["out"].rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert not any(n in data for n in needles), f"key bytes in {p}"


def test_xcom_holds_only_small_metadata(published, raw_day):
    import os

    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as con:
        values = [str(v[0]) for v in con.execute("SELECT value FROM xcom").fetchall()]
    assert values, "expected XCom values from the run"
    raw = raw_identifier_values(raw_day)
    tokens = set(TOKEN.findall("\n".join(values)))
    for column in ("account_id", "profile_id", "email", "ip_address", "device_id", "event_id"):
        assert not (raw[column] & tokens), f"a raw {column} value reached XCom"
    assert max(len(v) for v in values) < 20_000
    domain_key = derive_domain_key(__import__("transforms.keys", fromlist=["Key"]).Key("k1", TEST_SECRET), "analytics")
    joined = "\n".join(values)
    for material in (TEST_SECRET, domain_key, *hmac_pads(domain_key)):
        assert material.hex() not in joined and base64.b64encode(material).decode() not in joined


def test_dag_backfills_days_independently(published, tmp_path):
    """Two runs of the DAG for two days (the `day` param, as a backfill sets it): two partitions."""
    import os

    from transforms.generate import generate_day

    raw = tmp_path / "raw"
    for day in (date(2026, 11, 22), date(2026, 11, 23)):
        generate_day(raw, day, events=1500, seed=5)
    out = tmp_path / "extracts"
    env = airflow_env(raw, tmp_path)
    os.environ.update(env)
    try:
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(ROOT / "dags")).dags["viewing_sessions_export"]
        states = [
            dag.test(logical_date=datetime(2026, 12, 1, 3, tzinfo=UTC), run_conf={"day": d}).state
            for d in ("2026-11-22", "2026-11-23")
        ]
    finally:
        for name in env:
            os.environ.pop(name, None)
    assert states == ["success", "success"]
    days = sorted(p.name for p in (out / "viewing_sessions").glob("day=*"))
    assert days == ["day=2026-11-22", "day=2026-11-23"]


def test_privacy_report_is_self_contained_and_says_why_it_is_safe(published):
    part = _partition(published)
    report = (part / "_reports" / "privacy_report.html").read_text()
    manifest = json.loads((part / "_manifest.json").read_text())
    for needle in ("Privacy report: viewing_sessions", f"<b>{manifest['k']}</b>", "key id", "<b>k1</b>",
                   "Rejected rows by reason", "Combinations by size", "Loss by attribute", "<svg"):  # fmt: skip
        assert needle in report
    assert "<span class='ok'>passed</span>" in report
    for external in ("<script", "src=", "http://", "https://", "@import", "url("):
        assert external not in report
    index = (part.parent / "_index.html").read_text()
    assert f"day={DAY}/_reports/privacy_report.html" in index and manifest["run_id"] in index


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(published, tmp_path):
    """A real browser, network closed: the screenshot is the full page, not a blank one."""
    report = _partition(published) / "_reports" / "privacy_report.html"
    png = tmp_path / "report.png"
    subprocess.run(["bash", str(ROOT / "scripts" / "check-report.sh"), str(report), str(png)], check=True, timeout=120)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1100, 2600)
    assert len(data) > 50_000  # text and charts

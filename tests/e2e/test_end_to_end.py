"""End to end: a generated day through the real DAG (dag.test), assertions on what was published."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import sqlite3
import struct
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.support import DAY, ROOT, TEST_SECRET, raw_identifier_values
from tests.support.airflow import airflow_env, migrate, run_dag
from transforms.ops.keys import Key, derive_domain_key, derive_link_key, hmac_pads

TOKEN = re.compile(r"[A-Za-z0-9@._:+/=-]+")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(raw_day, tmp_path_factory):
    migrate()
    out = tmp_path_factory.mktemp("out")
    state, logs = run_dag("viewing_sessions_export", f"{DAY}T03:00:00+00:00", airflow_env(raw_day, out))
    return {"state": state, "out": out, "logs": logs}


def _partition(published) -> Path:
    return published["out"] / "extracts" / "viewing_sessions" / f"day={DAY}"


def test_run_succeeds_and_publishes_a_partition(published):
    assert published["state"]["state"] == "success"
    part = _partition(published)
    assert (part / "part-00000.parquet").exists()
    assert (part / "_manifest.json").exists()
    assert (part / "_reports" / "data_docs" / "index.html").exists()
    # The work folder holds raw-derived rows: it is gone once the run has published.
    work = published["out"] / "work" / "viewing_sessions" / str(DAY)
    assert not work.exists() or not any(work.iterdir())


def test_every_combination_has_k_people(published, policy):
    files = str(_partition(published) / "*.parquet")
    rows = ", ".join(policy.qi_columns)  # the title too: every published combination
    smallest = duckdb.sql(
        f"SELECT min(n) FROM (SELECT count(DISTINCT viewer_id) n FROM read_parquet('{files}') GROUP BY {rows})"
    ).fetchall()[0][0]
    assert smallest >= policy.privacy.k


def test_nobody_is_singled_out_by_their_attributes_and_two_plays(published, policy):
    from tests.support.km_checker import violations

    h = policy.privacy.history
    files = str(_partition(published) / "*.parquet")
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{files}')").df().to_dict("records")
    assert violations(rows, "viewer_id", [*h.person, *h.play], policy.privacy.k, h.m) == []


def test_counts_reconcile_and_manifest_is_complete(published):
    part = _partition(published)
    manifest = json.loads((part / "_manifest.json").read_text())
    c = manifest["counts"]
    assert c["input_rows"] == c["published_rows"] + c["suppressed_rows"] + c["rejected_rows"] + c["minor_rows"]
    assert c["minor_rows"] == manifest["minors"]["rows_dropped"] > 0
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


def unkeyed_forms(value: str) -> set[str]:
    """What a careless pipeline could publish for an identifier: unkeyed digests in their usual shapes."""
    forms = set()
    for algo in ("md5", "sha1", "sha256"):
        digest = hashlib.new(algo, value.encode())
        forms |= {digest.hexdigest(), digest.hexdigest()[:32], base64.b64encode(digest.digest()).decode()}
    empty = hmac.new(b"", value.encode(), hashlib.sha256).hexdigest()
    return forms | {empty, empty[:32]}


def published_tokens(out: Path) -> set[str]:
    """Every published value of every column, whole and split on the pseudonym's ':'."""
    con = duckdb.connect()
    files = f"{out}/**/*.parquet"
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{files}')").fetchall()]
    tokens: set[str] = set()
    for col in cols:
        for (v,) in con.execute(f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM read_parquet('{files}')").fetchall():
            tokens |= {str(v), *str(v).split(":")}
    return tokens


def test_no_unkeyed_hash_of_an_identifier_is_published(published, raw_day):
    raw = raw_identifier_values(raw_day)
    staged = duckdb.sql(
        "SELECT DISTINCT account_id, profile_id FROM read_json(?, format='newline_delimited', ignore_errors=true, "
        "columns={'account_id':'VARCHAR','profile_id':'VARCHAR'}) "
        "WHERE account_id IS NOT NULL AND profile_id IS NOT NULL",
        params=[str(raw_day / "viewing_events" / f"dt={DAY}" / "*.jsonl.gz")],
    ).fetchall()
    # The message the pipeline hashes (the person key), and every raw id on its own.
    values = {f"{a}\x1f{p}" for a, p in staged} | raw["account_id"] | raw["profile_id"] | raw["email"]
    tokens = published_tokens(published["out"] / "extracts")
    assert len(values) > 2000 and len(tokens) > 1000
    leaked = [v for v in values if unkeyed_forms(v) & tokens]
    assert not leaked, f"{len(leaked)} identifiers are published as an unkeyed hash"
    # The check can fail: the HMAC under the real key is what is published, under another form.
    key = derive_domain_key(Key("k1", TEST_SECRET), "analytics", DAY.isoformat())  # epoch: day
    real = [hmac.new(key, f"{a}\x1f{p}".encode(), hashlib.sha256).hexdigest()[:32] for a, p in staged]
    assert set(real) & tokens


def key_material() -> list[bytes]:
    """The secret and everything derived from it for the night: domain and link keys, their pads."""
    master = Key("k1", TEST_SECRET)
    domain_key = derive_domain_key(master, "analytics", DAY.isoformat())  # the shipped epoch: day
    link_key = derive_link_key(master, "analytics")
    return [TEST_SECRET, domain_key, *hmac_pads(domain_key), link_key, *hmac_pads(link_key)]


def test_key_material_never_appears(published):
    needles = key_material()
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
    joined = "\n".join(values)
    for material in key_material():
        assert material.hex() not in joined and base64.b64encode(material).decode() not in joined


def test_dag_backfills_days_independently(published, tmp_path):
    """Two runs of the DAG for two days (the `day` param, as a backfill sets it): two partitions."""
    from devtools.fake_logs import generate_day

    raw = tmp_path / "raw"
    for day in (date(2026, 11, 22), date(2026, 11, 23)):
        generate_day(raw, day, events=1500, seed=5)
    env = airflow_env(raw, tmp_path)
    states = [
        run_dag("viewing_sessions_export", "2026-12-01T03:00:00+00:00", env, {"day": d})[0]["state"]
        for d in ("2026-11-22", "2026-11-23")
    ]
    assert states == ["success", "success"]
    days = sorted(p.name for p in (tmp_path / "extracts" / "viewing_sessions").glob("day=*"))
    assert days == ["day=2026-11-22", "day=2026-11-23"]


def test_privacy_report_is_self_contained_and_says_why_it_is_safe(published):
    part = _partition(published)
    report = (part / "_reports" / "privacy_report.html").read_text()
    manifest = json.loads((part / "_manifest.json").read_text())
    for needle in (
        "Privacy report: viewing_sessions",
        f"<b>{manifest['k']}</b>",
        "key id",
        "<b>k1</b>",
        "Rejected rows by reason",
        "Combinations by size",
        "Loss by attribute",
        "<svg",
    ):
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


def test_no_minor_is_published_and_the_dropped_are_counted(published, raw_day):
    """Independently of the pipeline: who is under 16 on the day (from the raw snapshot), their
    pseudonyms under the test key, and not one of them in the extract."""
    day = f"DATE '{DAY.isoformat()}'"
    subs = str(raw_day / "subscribers" / f"dt={DAY}" / "*.parquet")
    minors = duckdb.sql(
        f"SELECT DISTINCT account_id, profile_id FROM read_parquet('{subs}') "
        f"WHERE date_sub('year', CAST(birth_date AS DATE), {day}) < 16"
    ).fetchall()
    adults = duckdb.sql(
        f"SELECT DISTINCT account_id, profile_id FROM read_parquet('{subs}') "
        f"WHERE date_sub('year', CAST(birth_date AS DATE), {day}) >= 16"
    ).fetchall()
    key = derive_domain_key(Key("k1", TEST_SECRET), "analytics", DAY.isoformat())

    def pseudonyms(people):
        return {"k1:" + hmac.new(key, f"{a}\x1f{p}".encode(), hashlib.sha256).hexdigest()[:32] for a, p in people}

    part = _partition(published)
    published_ids = {
        r[0] for r in duckdb.sql(f"SELECT DISTINCT viewer_id FROM read_parquet('{part / '*.parquet'}')").fetchall()
    }
    assert minors and not (pseudonyms(minors) & published_ids)
    assert pseudonyms(adults) & published_ids  # the check can fail: adults' pseudonyms are found
    m = json.loads((part / "_manifest.json").read_text())["minors"]
    assert m["action"] == "drop" and 0 < m["people_dropped"] <= len(minors)
    # No band below 18 is published, and the report says what happened to minors.
    bands = {r[0] for r in duckdb.sql(f"SELECT DISTINCT age_band FROM read_parquet('{part / '*.parquet'}')").fetchall()}
    assert not bands & {"<13", "13-17"}
    report = (part / "_reports" / "privacy_report.html").read_text()
    assert f"People under <b>16</b> on the day are left out: {m['rows_dropped']:,} plays" in report


def test_every_published_column_is_described_in_the_files_and_the_report(published, policy):
    import pyarrow.parquet as pq

    part = _partition(published)
    report = (part / "_reports" / "privacy_report.html").read_text()
    assert "<h2>Data dictionary</h2>" in report
    levels = json.loads((part / "_manifest.json").read_text())["levels"]
    for f in part.glob("*.parquet"):
        schema = pq.read_schema(f)
        assert schema.names == policy.published_columns
        for field in schema:
            text = (field.metadata or {}).get(b"description", b"").decode()
            assert len(text) > 20, f"{field.name} has no description"
            assert f"<code>{field.name}</code>" in report
        # The description says the level the night published.
        title = schema.field("title_id").metadata[b"description"].decode()
        assert f"level `{levels['title_id']}`" in title
    for label in ("*", "unknown", "other"):
        assert f"<td><code>{label}</code></td>" in report

"""The same generated day through both engines, DuckDB and Spark: the row export in local
mode (`local[2]`, in process), the audience tables through the CLI as the thin client of a
Spark Connect server the test starts (`local[2]`), every stage.

What must be the same: the published rows (in the same order) and their column types and
descriptions, the manifest apart from the engine, the timings and the file bytes, every work
file before publishing (row for row, type for type), the quarantine. What must hold on Spark:
no key material in anything it records about the queries (its event log holds every plan,
as its UI and history server show them), and no raw value in its error messages.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support import DAY, ROOT
from tests.support.runs import context, without_run_fields
from transforms.config.policy import load_policy
from transforms.context import MANIFEST
from transforms.pipeline import run_stage
from transforms.stages import NAMES

KINDS = {"rows": ROOT / "policies" / "viewing_sessions.yaml", "aggregate": ROOT / "policies" / "title_audience.yaml"}


@pytest.fixture(scope="module")
def spark_events(tmp_path_factory):
    events = tmp_path_factory.mktemp("spark-events")
    saved = {k: os.environ.get(k) for k in ("EXPORT_SPARK_MASTER", "EXPORT_SPARK_EVENT_LOG")}
    os.environ["EXPORT_SPARK_MASTER"] = "local[2]"
    os.environ["EXPORT_SPARK_EVENT_LOG"] = str(events)
    yield events
    from transforms.backends import spark

    spark._stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@dataclasses.dataclass
class Night:
    stats: dict
    partition: Path
    work: Path | None  # a copy of the work folder taken before publish (which removes it)
    quarantine: Path | None


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A Spark Connect server on this machine (`local[2]`), started from PySpark's own jars as a
    cluster's would be: the export then runs as its thin client (`--spark-remote`)."""
    import socket
    import subprocess
    import time

    import pyspark

    home = Path(pyspark.__file__).parent
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    logs = tmp_path_factory.mktemp("connect-logs")
    command = [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    command += ["--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}"]
    command += ["--conf", "spark.ui.enabled=false", "--name", "export-connect-test", "spark-internal"]
    env = dict(os.environ, SPARK_HOME=str(home))
    with open(logs / "server.log", "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    socket.create_connection(("localhost", port), 1).close()
                    break
                except OSError:
                    assert server.poll() is None, (logs / "server.log").read_text()[-2000:]
                    assert time.monotonic() < deadline, "the Spark Connect server did not start in 120 s"
                    time.sleep(0.5)
            yield f"sc://localhost:{port}"
        finally:
            server.terminate()
            server.wait(30)


def _through_the_cli(raw_day, tmp: Path, policy_path: Path, remote: str) -> Path:
    """The CLI as a thin client of the Spark Connect server: the run as a task would make it."""
    import base64
    import subprocess
    import sys

    from tests.support import TEST_SECRET
    from transforms.ops.keys import ENV_KEY_ID

    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORT_SPARK")}
    env["PSEUDONYMIZATION_SECRET"] = "base64:" + base64.b64encode(TEST_SECRET).decode()
    env[ENV_KEY_ID] = "t1"  # the key id of the tests' ring: the same pseudonyms
    args = ["run", "--policy", str(policy_path), "--day", str(DAY), "--raw-root", str(raw_day)]
    args += ["--out-root", str(tmp / "out"), "--work-root", str(tmp / "work")]
    args += ["--quarantine-root", str(tmp / "quarantine"), "--engine", "spark", "--spark-remote", remote]
    r = subprocess.run([sys.executable, "-m", "transforms", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return next((tmp / "out").rglob("part-00000.parquet")).parent


@pytest.fixture(scope="module")
def nights(raw_day, tmp_path_factory, ring, spark_events, connect_server) -> dict[tuple[str, str], Night]:
    """Each kind on DuckDB, in process. On Spark: the row export in process (local mode, every
    work file kept for comparison), the audience tables through the CLI as a client of a Spark
    Connect server (the published partition only: publishing removes the work folder)."""
    out = {}
    for kind, policy_path in KINDS.items():
        policy = load_policy(policy_path)
        for engine in ("duckdb", "spark"):
            tmp = tmp_path_factory.mktemp(f"{kind}-{engine}")
            if (kind, engine) == ("aggregate", "spark"):
                out[kind, engine] = Night({}, _through_the_cli(raw_day, tmp, policy_path, connect_server), None, None)
                continue
            ctx = dataclasses.replace(context(raw_day, tmp, policy, quarantine=True), engine=engine)
            stats, snapshot = {}, tmp / "work-before-publish"
            for name in NAMES:
                if name == "publish":
                    shutil.copytree(ctx.work(policy.export).folder, snapshot)
                stats[name] = run_stage(name, ctx, ring)
            partition = ctx.layout.partition(policy.export, ctx.day)
            out[kind, engine] = Night(stats, partition, snapshot, tmp / "quarantine")
    return out


def _types(path: Path) -> list[tuple[str, pa.DataType, bytes | None]]:
    return [(f.name, f.type, (f.metadata or {}).get(b"description")) for f in pq.read_schema(path)]


@pytest.mark.parametrize("kind", KINDS)
def test_the_published_rows_are_the_same_in_the_same_order(nights, kind):
    duck, spark = nights[kind, "duckdb"], nights[kind, "spark"]
    a, b = duck.partition / "part-00000.parquet", spark.partition / "part-00000.parquet"
    rows = pq.read_table(a).to_pylist()
    assert rows, "nothing was published: the comparison would prove nothing"
    assert rows == pq.read_table(b).to_pylist()
    assert _types(a) == _types(b)  # types and descriptions (nullability aside)


@pytest.mark.parametrize("kind", KINDS)
def test_the_manifests_differ_only_in_engine_timing_and_file_bytes(nights, kind):
    import json

    duck, spark = (json.loads((nights[kind, e].partition / MANIFEST).read_text()) for e in ("duckdb", "spark"))
    assert (duck["engine"], spark["engine"]) == ("duckdb", "spark")  # audience tables: through Spark Connect
    assert without_run_fields(duck) == without_run_fields(spark)
    assert [f["path"] for f in duck["files"]] == [f["path"] for f in spark["files"]]


def _differences(a: Path, b: Path) -> int:
    con = duckdb.connect()
    q = (
        f"(SELECT * FROM '{a}' EXCEPT ALL SELECT * FROM '{b}') "
        f"UNION ALL (SELECT * FROM '{b}' EXCEPT ALL SELECT * FROM '{a}')"
    )
    return con.sql(f"SELECT count(*) FROM ({q})").fetchall()[0][0]


def test_every_work_file_has_the_same_rows_and_types(nights):
    duck, spark = nights["rows", "duckdb"].work, nights["rows", "spark"].work
    files = sorted(p.relative_to(duck) for p in duck.rglob("*.parquet") if "tmp" not in p.relative_to(duck).parts)
    assert {"staged.parquet", "persons.parquet", "generalized.parquet"} <= {str(f) for f in files}
    for f in files:
        assert (spark / f).exists(), f"spark wrote no {f}"
        assert _differences(duck / f, spark / f) == 0, f"{f} differs between the engines"
        assert [(n, t) for n, t, _ in _types(duck / f)] == [(n, t) for n, t, _ in _types(spark / f)], f


def test_the_quarantine_is_the_same_file_for_file(nights):
    a = next(nights["rows", "duckdb"].quarantine.rglob("rejected.parquet"))
    b = next(nights["rows", "spark"].quarantine.rglob("rejected.parquet"))
    rows = pq.read_table(a).to_pylist()
    assert rows and rows == pq.read_table(b).to_pylist()  # same rows, same order
    assert nights["rows", "duckdb"].stats["pull"]["minor_rows"] > 0  # the day exercises the minors rule too


def test_spark_records_no_key_material(nights, spark_events, ring):
    """Every spelling of the derived keys, their pads and the master secret, in every plan
    Spark logged (a key bound as a parameter would show there as 0x<HEX>)."""
    from transforms.stages.pseudonymize import domain

    logs = b""
    for p in sorted(x for x in spark_events.rglob("*") if x.is_file()):
        compressed = p.suffix == ".zstd"  # Spark 4 compresses its event log with zstd by default
        with pa.input_stream(str(p), compression="zstd" if compressed else None) as stream:
            logs += stream.read()
    assert b"hmac" in logs.lower(), "the event log does not hold the pseudonymize query"
    secrets = [ring.active.secret]
    for policy_path in KINDS.values():
        policy = load_policy(policy_path)
        secrets += domain(ring, policy.recipient, policy.pseudonym.epoch, DAY).secrets().to_pylist()[0].values()
    for secret in secrets:
        for spelling in (secret.hex().encode(), secret.hex().upper().encode(), secret):
            assert spelling not in logs


def test_a_spark_failure_does_not_quote_the_value(spark_events):
    from transforms.backends.base import Statement
    from transforms.backends.spark import SparkBackend, SparkError

    b = SparkBackend()
    try:
        with pytest.raises(SparkError) as raised:
            b.fetch([Statement("t", "SELECT CAST('AC000000000042' AS INT) AS x")])
        assert "AC000000000042" not in str(raised.value) and "CAST_INVALID_INPUT" in str(raised.value)
        assert b.scalar([Statement("t", "SELECT 1")]) == 1  # the session is still usable
    finally:
        b.close()


FAILING_TASK = """
import sys
import pyarrow as pa, pyarrow.parquet as pq
from transforms.backends.base import Statement
from transforms.backends.spark import SparkBackend, SparkError
pq.write_table(pa.table({"x": ["AC000000000042"]}), sys.argv[1])
b = SparkBackend()
b.register_parquet("t", [sys.argv[1]])
try:
    b.fetch([Statement("s", "SELECT CAST(x AS INT) AS y FROM t")])
except SparkError:
    print("raised")
b.close()
"""


def test_a_failing_spark_task_does_not_log_the_value(tmp_path):
    """A cast failing on an executor (not folded on the driver): Spark's executor logs the
    exception, value included, on the process's stderr (the Airflow task log) unless its
    logger is off. Run in a process of its own to read that stderr."""
    import subprocess
    import sys

    script = tmp_path / "fail.py"
    script.write_text(FAILING_TASK)
    env = {**os.environ, "EXPORT_SPARK_MASTER": "local[1]"}
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "v.parquet")], capture_output=True, text=True, env=env, timeout=600
    )
    assert "raised" in r.stdout, r.stderr[-2000:]
    assert "AC000000000042" not in r.stdout + r.stderr


def test_full_years_agree_on_the_boundaries(spark_events):
    """The age rule (minors, age bands) through the transpiler's rewrite of DuckDB's
    date_sub('year', ...) equals DuckDB's on birthdays, the day before and the 29th of February."""
    from datetime import date

    import pyarrow as pa

    from transforms.backends.base import Statement
    from transforms.backends.spark import SparkBackend, transpile

    births = [date(2008, 2, 29), date(2008, 2, 28), date(2008, 3, 1), date(2010, 11, 23), date(2010, 11, 24)]
    days = [date(2026, 2, 28), date(2026, 3, 1), date(2028, 2, 28), date(2028, 2, 29), date(2026, 11, 23)]
    pairs = pa.table({"b": [b for b in births for _ in days], "d": [d for _ in births for d in days]})
    text = "SELECT b, d, date_sub('year', b, d) AS years FROM pairs ORDER BY b, d"
    con = duckdb.connect()
    con.register("pairs", pairs)
    expected = [tuple(r) for r in con.execute(text).fetchall()]
    assert "months_between" in transpile(text).lower()
    b = SparkBackend()
    try:
        b.register_arrow("pairs", pairs)
        got = b.fetch([Statement("t", transpile(text))]).to_pylist()
    finally:
        b.close()
    assert [(r["b"], r["d"], r["years"]) for r in got] == expected


def _edge_lines() -> list[str]:
    """Raw lines where the engines' JSON readers could part: each must get the same fate."""
    import json

    from tests.support.rawday import event

    def line(n: int, **changes) -> str:
        return json.dumps(event(n, **changes))

    valid = line(1)
    return [
        valid,
        valid,  # an exact duplicate
        line(2) + " trailing",  # text after the object
        line(3) + " " + line(4),  # two objects on one line
        "[" + line(5) + "]",  # the object inside an array
        line(7, watch_seconds=12.5),
        line(8).replace('"watch_seconds": 3600', '"watch_seconds": 1e3'),
        line(9, watch_seconds="3600"),
        line(10).replace('"watch_seconds": 3600', '"watch_seconds": -0'),
        line(11, city={"x": [1, 2]}),
        line(12, title_name="caf\u00e9 \u2603"),
        line(13, started_at="2026-11-23t21:04:11z"),
        line(14, started_at="2026-11-23T21:04:11.1234567Z"),
        line(15, started_at="2026-11-23T21:04:11.5Z"),
        line(16)[:-1] + ', "country": "FR"}',  # a key given twice
        line(17, account_id=12345),
        "{}",
        "   ",
        '"just a string"',
        line(19, content_type="Movie"),
        line(20, country="gb"),
    ]


def test_edge_lines_meet_the_same_fate_on_both_engines(tmp_path, policy, spark_events):
    from tests.support.rawday import write_day
    from transforms.runtime import StageRun
    from transforms.stages import stage

    lines = _edge_lines()
    raw = write_day(tmp_path / "raw", lines, [{"account_id": "AC000000000001", "profile_id": "PR0000000000000001"}])
    results = {}
    for engine in ("duckdb", "spark"):
        ctx = dataclasses.replace(context(raw, tmp_path / engine, policy, quarantine=True), engine=engine)
        s = StageRun(ctx, policy, {})
        s.work.folder.mkdir(parents=True, exist_ok=True)
        try:
            summary = stage("pull").run(s)
        finally:
            s.close()
        summary.pop("quarantine_file")
        staged = sorted(map(str, pq.read_table(s.work.staged).to_pylist()))
        quarantined = pq.read_table(next((tmp_path / engine / "quarantine").rglob("rejected.parquet"))).to_pylist()
        results[engine] = (summary, staged, [{k: v for k, v in r.items() if k != "_file"} for r in quarantined])
    assert results["duckdb"][0]["valid_rows"] > 0 and results["duckdb"][0]["rejected_rows"] > 5
    assert results["duckdb"] == results["spark"]

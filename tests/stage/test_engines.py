"""The Spark engine against DuckDB: the same generated day through the stages Spark runs so far
(pull, pseudonymize, generalize, anonymize), every work file compared row for row.

Spark runs in local mode (`local[2]`, one session for the module); the event log is written
so that the test can look for the key in everything Spark records about the queries.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.support.runs import context
from transforms.runtime import StageRun
from transforms.stages import stage

STAGES = ("pull", "pseudonymize", "generalize", "anonymize")


@pytest.fixture(scope="module")
def spark_env(tmp_path_factory):
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


@pytest.fixture(scope="module")
def both(raw_day, tmp_path_factory, policy, ring, spark_env):
    """The stages' summaries and work folders per engine."""
    out = {}
    for engine in ("duckdb", "spark"):
        tmp = tmp_path_factory.mktemp(engine)
        ctx = context(raw_day, tmp, policy, quarantine=True)
        stats: dict = {}
        for name in STAGES:
            s = StageRun(ctx, policy, stats, ring if name == "pseudonymize" else None, engine=engine)
            s.work.folder.mkdir(parents=True, exist_ok=True)
            try:
                stats[name] = stage(name).run(s)
            finally:
                s.close()
        out[engine] = (stats, s.work.folder, tmp / "quarantine")
    return out


def _differences(a: Path, b: Path) -> int:
    con = duckdb.connect()
    q = (
        f"(SELECT * FROM '{a}' EXCEPT ALL SELECT * FROM '{b}') "
        f"UNION ALL (SELECT * FROM '{b}' EXCEPT ALL SELECT * FROM '{a}')"
    )
    return con.sql(f"SELECT count(*) FROM ({q})").fetchall()[0][0]


def test_every_work_file_has_the_same_rows_and_types_on_both_engines(both):
    (_, duck, _), (_, spark, _) = both["duckdb"], both["spark"]
    files = sorted(p.relative_to(duck) for p in duck.rglob("*.parquet") if "tmp" not in p.relative_to(duck).parts)
    assert {"staged.parquet", "persons.parquet", "generalized.parquet", "decision/suppressed.parquet"} <= {
        str(f) for f in files
    }
    for f in files:
        assert (spark / f).exists(), f"spark wrote no {f}"
        assert _differences(duck / f, spark / f) == 0, f"{f} differs between the engines"
        types = [(x.name, x.type) for x in pq.read_schema(duck / f)]
        assert types == [(x.name, x.type) for x in pq.read_schema(spark / f)], f"{f}: column types differ"


def test_the_stage_summaries_agree(both):
    duck, spark = both["duckdb"][0], both["spark"][0]
    for name in STAGES:
        a, b = dict(duck[name]), dict(spark[name])
        a.pop("quarantine_file", None), b.pop("quarantine_file", None)
        if name == "anonymize":
            # Timings differ; every figure of the decision does not.
            for d in (a, b):
                for key in [k for k in d if "seconds" in k or k.endswith("_s") or k == "timings"]:
                    d.pop(key)
        assert a == b, f"{name}: the summaries differ"
    assert duck["pull"]["rejected_rows"] > 0 and duck["pull"]["minor_rows"] > 0  # the day exercises both


def test_the_quarantine_is_the_same_file_for_file(both):
    a = next(both["duckdb"][2].rglob("rejected.parquet"))
    b = next(both["spark"][2].rglob("rejected.parquet"))
    assert pq.read_table(a).to_pylist() == pq.read_table(b).to_pylist()  # same rows, same order


def test_spark_records_no_key_material(both, spark_env, ring, policy):
    """Spark's event log holds every query's plans (what its UI and history server show): the
    derived keys, their pads and the master secret appear in none of them, in any spelling."""
    import pyarrow as pa

    from tests.support import DAY
    from transforms.stages.pseudonymize import domain

    logs = b""
    for p in sorted(x for x in spark_env.rglob("*") if x.is_file()):
        compressed = p.suffix == ".zstd"  # Spark 4 compresses its event log with zstd by default
        with pa.input_stream(str(p), compression="zstd" if compressed else None) as stream:
            logs += stream.read()
    assert b"hmac" in logs.lower(), "the event log does not hold the pseudonymize query"
    d = domain(ring, policy.recipient, policy.pseudonym.epoch, DAY)
    secrets = [*d.secrets().to_pylist()[0].values(), ring.active.secret]
    for secret in secrets:
        for spelling in (secret.hex().encode(), secret.hex().upper().encode(), secret):
            assert spelling not in logs


def test_a_spark_failure_does_not_quote_the_value(spark_env):
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


def test_full_years_agree_on_the_boundaries(spark_env):
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

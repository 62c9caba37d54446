"""Apache Spark: the engine for days past one machine (local mode, a cluster, or Spark Connect).

Each named step is rendered from `spark/sql/<step>.sql` when the step needs Spark's own
dialect (reading the raw lines, HMAC, anything sqlglot does not carry over exactly), and
otherwise from DuckDB's template, transpiled by sqlglot (duckdb -> spark); tests pin both.
Values stay bound parameters (`$name` in the templates, Spark's named `:name` markers when run),
never SQL text. Key material is never a parameter on Spark: a parameter becomes a literal in
the query plan, which Spark prints in its UI, logs and event log. Keys reach a step as a
one-row table registered with `register_secret`, whose plan shows column names only.

`CREATE OR REPLACE TEMP TABLE name AS ...` (the steps' way to keep an intermediate result) is
written as Parquet under the backend's scratch folder and read back as a view, so a large
intermediate spills to disk instead of being recomputed by every query that reads it.

Settings (environment, read when the session starts):
    EXPORT_SPARK_REMOTE      a Spark Connect URL (sc://host:15002): run as a thin client
    EXPORT_SPARK_MASTER      the master for a session started here (default local[*]; under
                             spark-submit, its --master and --conf settings unless this is set)
    EXPORT_SPARK_DRIVER_MEMORY   the driver's heap for a session started here (default 2g)
    EXPORT_SPARK_SHUFFLE_PARTITIONS  shuffle partitions (default: twice the local cores)
    EXPORT_SPARK_UI          "1" to serve Spark's UI (off by default)
    EXPORT_SPARK_EVENT_LOG   a folder for Spark's event log (for its history server; off by default)
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa

from transforms.backends.base import Backend, InputError, Query, Statement, protocol_of, render
from transforms.errors import StorageError

log = logging.getLogger(__name__)

DUCKDB_SQL = Path(__file__).resolve().parent.parent / "duckdb" / "sql"
_CREATE_TEMP = re.compile(r"^\s*CREATE\s+OR\s+REPLACE\s+TEMP\s+TABLE\s+([a-z_][a-z0-9_]*)\s+AS\s+(.*)$", re.S | re.I)
_DROP = re.compile(r"^\s*DROP\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?([a-z_][a-z0-9_]*)\s*$", re.I)
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
#: Spark's error classes for input it cannot read (a missing, truncated or corrupt file).
_INPUT_ERRORS = ("FAILED_READ_FILE", "PATH_NOT_FOUND", "CANNOT_READ_FILE_FOOTER", "UNABLE_TO_INFER_SCHEMA")

_lock = threading.Lock()
_session = None


#: Loggers that print a failed task's exception, whose message may quote a row's value ("The
#: value 'AC...' cannot be cast"): the driver raises the failure, cleaned (`_reraise`), instead.
TASK_FAILURE_LOGGERS = ("org.apache.spark.executor.Executor", "org.apache.spark.scheduler.TaskSetManager")


def _quiet_task_failures(spark) -> None:
    """Turn off the loggers of TASK_FAILURE_LOGGERS in this JVM (local mode: the executors run
    in it; a cluster's executors log on their own nodes, under the cluster's log4j settings)."""
    jvm = spark.sparkContext._jvm
    off = jvm.org.apache.logging.log4j.Level.OFF
    for name in TASK_FAILURE_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, off)


def session():
    """The process's Spark session, started (or connected) on first use and stopped at exit."""
    global _session
    with _lock:
        if _session is not None:
            return _session
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName("viewing-export")
        if not os.environ.get("EXPORT_SPARK_REMOTE") and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise RuntimeError(
                "the Spark engine needs Java 17+ to start a session here: install it (Debian: apt-get install "
                "openjdk-17-jre-headless; scripts/setup.sh does when it may) or set JAVA_HOME, or connect to a "
                "Spark Connect server with EXPORT_SPARK_REMOTE=sc://host:15002"
            )
        if remote := os.environ.get("EXPORT_SPARK_REMOTE"):
            builder = builder.remote(remote)
        elif os.environ.get("PYSPARK_GATEWAY_PORT") and not os.environ.get("EXPORT_SPARK_MASTER"):
            # Launched by spark-submit: its --master, --driver-memory and --conf settings stand.
            builder = builder.config("spark.ui.showConsoleProgress", "false")
        else:
            cores = os.cpu_count() or 2
            builder = (
                builder.master(os.environ.get("EXPORT_SPARK_MASTER", "local[*]"))
                .config("spark.driver.memory", os.environ.get("EXPORT_SPARK_DRIVER_MEMORY", "2g"))
                .config("spark.ui.enabled", "true" if os.environ.get("EXPORT_SPARK_UI") == "1" else "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", os.environ.get("EXPORT_SPARK_SHUFFLE_PARTITIONS", 2 * cores))
            )
            if event_log := os.environ.get("EXPORT_SPARK_EVENT_LOG"):
                builder = builder.config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", event_log)
        started = time.perf_counter()
        spark = builder.getOrCreate()
        for key, value in SESSION_CONF.items():
            spark.conf.set(key, value)
        if not os.environ.get("EXPORT_SPARK_REMOTE"):
            spark.sparkContext.setLogLevel("ERROR")  # Spark's own logs may quote values
            _quiet_task_failures(spark)
        # PySpark logs a failed query's text and context: the failure is raised, cleaned, instead.
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
        logging.getLogger("py4j").setLevel(logging.WARNING)  # one line per call at INFO, and at exit
        log.info("spark: session ready in %.1fs (%s)", time.perf_counter() - started, spark.version)
        _session = spark
        atexit.register(_stop)
        return spark


_JVM_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def jvm_bytes(text: str) -> int:
    """A JVM memory setting ("2g", "512m", "4096k", "1gb") in bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", text.lower())
    if not m:
        raise ValueError(f"not a JVM memory size: {text!r} (e.g. 2g, 512m)")
    return int(m.group(1)) * _JVM_UNITS[m.group(2)]


#: Semantics the steps assume on both engines: UTC, timestamps without a zone (DuckDB's
#: TIMESTAMP), microsecond Parquet timestamps, errors on bad casts (ANSI, as DuckDB).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.ansi.enabled": "true",
}


def _stop() -> None:
    global _session
    with _lock:
        if _session is not None:
            try:
                _session.stop()
            finally:
                _session = None


def transpile(text: str) -> str:
    """DuckDB SQL (one statement) in Spark's dialect, with the rewrites sqlglot lacks."""
    import sqlglot

    return sqlglot.parse_one(text, read="duckdb").transform(_rewrite).sql(dialect="spark")


def _rewrite(node):
    """What sqlglot does not carry over from DuckDB to Spark:
    - `date_sub('year', a, b)` (full years from a to b) as `floor(months_between(b, a, false) / 12)`:
      both count the 29th of February to the 28th as a full month (month ends); tests compare
      the two on the boundaries;
    - `GROUPING(a, b, ...)` (a bit mask over those columns only) as the sum of Spark's one-column
      `grouping` shifted into place: Spark's `grouping_id` must name every grouping column;
    - `a / b` as `CAST(a AS DOUBLE) / b`: DuckDB's `/` is always a DOUBLE division, Spark's keeps
      DECIMAL operands DECIMAL (`3600.0` is one);
    - `regexp_full_match(x, 'p')` (the whole string) as `x RLIKE '^(?:p)\\z'` (Java's `$` would also
      match before a final newline)."""
    from sqlglot import exp

    if isinstance(node, exp.Div) and not (isinstance(node.this, exp.Cast) and node.this.to.is_type("double")):
        numerator = exp.Cast(this=node.this.copy(), to=exp.DataType.build("double"))
        return exp.Div(this=numerator, expression=node.expression.copy())
    if isinstance(node, exp.RegexpFullMatch) and isinstance(node.expression, exp.Literal):
        anchored = exp.Literal.string(f"^(?:{node.expression.this})\\z")
        return exp.RegexpLike(this=node.this.copy(), expression=anchored)
    if isinstance(node, exp.Grouping) and len(node.expressions) > 1:
        columns = node.expressions
        bits = [
            exp.Mul(
                this=exp.Cast(
                    this=exp.Anonymous(this="grouping", expressions=[c.copy()]), to=exp.DataType.build("bigint")
                ),
                expression=exp.Literal.number(1 << (len(columns) - 1 - i)),
            )
            for i, c in enumerate(columns)
        ]
        total = bits[0]
        for bit in bits[1:]:
            total = exp.Add(this=total, expression=bit)
        return exp.Paren(this=total)
    if (
        isinstance(node, exp.Anonymous)
        and node.name.lower() == "date_sub"
        and len(node.expressions) == 3
        and isinstance(node.expressions[0], exp.Literal)
        and node.expressions[0].this.lower() == "year"
    ):
        _, start, end = node.expressions
        months = exp.Anonymous(this="months_between", expressions=[end.copy(), start.copy(), exp.false()])
        return exp.Floor(this=exp.Div(this=months, expression=exp.Literal.number(12)))
    return node


class SparkBackend(Backend):
    name = "spark"
    sql_dir = Path(__file__).resolve().parent / "sql"

    def __init__(self, spill_dir: Path | None = None) -> None:
        self.spark = session()
        self._own_scratch = spill_dir is None
        self.scratch = Path(spill_dir) if spill_dir else Path(tempfile.mkdtemp(prefix="export-spark-"))
        self._views: set[str] = set()
        self._seq = 0

    # -- rendering ---------------------------------------------------------------------------
    def statements(self, query: Query | list[Statement]) -> list[Statement]:
        """The step from Spark's own folder when it has one, else DuckDB's transpiled."""
        if not isinstance(query, Query):
            return query
        if (self.sql_dir / f"{query.step}.sql").exists():
            return render(query, self.sql_dir)
        out = []
        for st in render(query, DUCKDB_SQL):
            if m := _CREATE_TEMP.match(st.text):
                text = f"CREATE OR REPLACE TEMP TABLE {m.group(1)} AS {transpile(m.group(2))}"
            elif _DROP.match(st.text):
                text = st.text
            else:
                text = transpile(st.text)
            out.append(Statement(st.step, text, st.params))
        return out

    # -- datasets ----------------------------------------------------------------------------
    def register_parquet(self, view: str, paths: list[Path] | Path) -> None:
        files = [str(p) for p in (paths if isinstance(paths, list) else [paths])]
        self._view(view, self.spark.read.parquet(*files))

    def register_arrow(self, view: str, table: pa.Table) -> None:
        if table.num_rows == 0:  # Spark Connect cannot take its schema from an empty table
            from pyspark.sql.pandas.types import from_arrow_schema

            self._view(view, self.spark.createDataFrame([], from_arrow_schema(table.schema)))
            return
        self._view(view, self.spark.createDataFrame(table))

    def register_secret(self, view: str, table: pa.Table) -> None:
        # A local relation: plans print its columns, never its rows.
        self.register_arrow(view, table)

    def parquet_columns(self, files: list[str]) -> set[str]:
        try:
            return set(self.spark.read.option("mergeSchema", "true").parquet(*files).columns)
        except Exception as exc:
            _reraise(exc)

    def use_filesystem(self, fs) -> None:
        raise StorageError(
            f"the Spark engine does not read or write object-store roots ({protocol_of(fs)}://) yet: Spark reaches S3 "
            "through Hadoop's S3A connector (hadoop-aws and the AWS SDK bundle), which PySpark does not ship and "
            "this project does not install; give Spark local or mounted paths, or run this export on DuckDB"
        )

    def register_day(self, events: list[str], event_format: str, subscribers: list[str], titles: list[str]) -> None:
        """Views over the raw day for the pull steps; each event row knows its file's position in
        `events` through a broadcast join on the path Spark reports (`_metadata.file_path`)."""
        spark = self.spark
        positions = spark.createDataFrame(
            pa.table({"file_key": [_file_key(f) for f in events], "_file_no": list(range(len(events)))})
        )
        try:
            if event_format == "json":
                # One column of whole lines: Spark's text reader splits on newlines only.
                rows = spark.read.text(events).selectExpr("value AS line", "_metadata.file_path AS file_path")
                view = "raw_lines"
            else:
                rows = spark.read.option("mergeSchema", "true").parquet(*events)
                rows = rows.selectExpr("*", "_metadata.file_path AS file_path")
                view = "raw_event_rows"
            keyed = rows.withColumn("file_key", _spark_file_key("file_path")).drop("file_path")
            self._view(view, keyed.join(positions.hint("broadcast"), "file_key").drop("file_key"))
            self._view("raw_subscribers", spark.read.option("mergeSchema", "true").parquet(*subscribers))
            self._view("raw_titles", spark.read.option("mergeSchema", "true").parquet(*titles))
        except Exception as exc:
            _reraise(exc)

    def _view(self, view: str, frame) -> None:
        frame.createOrReplaceTempView(view)
        self._views.add(view)

    # -- running -----------------------------------------------------------------------------
    def _frame(self, st: Statement):
        text = _PARAM.sub(r":\1", st.text)
        return self.spark.sql(text, args=dict(st.params) or None)

    def _execute(self, st: Statement) -> None:
        t0 = time.perf_counter()
        try:
            if m := _CREATE_TEMP.match(st.text):
                self._materialize(m.group(1), Statement(st.step, m.group(2), st.params))
            elif m := _DROP.match(st.text):
                self.spark.catalog.dropTempView(m.group(1))
                self._views.discard(m.group(1))
            else:
                self._frame(st).collect()
        except Exception as exc:
            _reraise(exc)
        finally:
            log.debug("spark: %s in %.3fs", st.step, time.perf_counter() - t0)

    def _materialize(self, table: str, select: Statement) -> None:
        self._seq += 1
        folder = self.scratch / "spark-tables" / f"{table}-{self._seq}"
        self._frame(select).write.mode("overwrite").parquet(str(folder))
        self._view(table, self.spark.read.parquet(str(folder)))

    def run(self, statements: Query | list[Statement]) -> None:
        for st in self.statements(statements):
            self._execute(st)

    def fetch(self, statements: Query | list[Statement], large: bool = False) -> pa.Table:
        statements = self.statements(statements)
        for st in statements[:-1]:
            self._execute(st)
        last = statements[-1]
        t0 = time.perf_counter()
        try:
            if large:
                return self._fetch_through_files(last)
            return self._frame(last).toArrow()
        except Exception as exc:
            _reraise(exc)
        finally:
            log.debug("spark: %s (fetch%s) in %.3fs", last.step, ", large" if large else "", time.perf_counter() - t0)

    def _fetch_through_files(self, last: Statement) -> pa.Table:
        """A large result (a frequency table, every cell of a table) never passes through Spark's
        driver: the executors write it as Parquet in the scratch folder, in as many files as it
        has partitions, and this process reads them in partition order (a sorted result stays
        sorted). `toArrow` would collect it in the driver, bounded by spark.driver.maxResultSize
        (1 GB by default: a 10M-event night's frequency table is more)."""
        import pyarrow.parquet as pq

        folder = self.scratch / f"fetch-{uuid.uuid4().hex}"
        frame = self._frame(last)
        try:
            frame.write.mode("overwrite").parquet(str(folder))
            parts = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
            if not parts:
                return frame.limit(0).toArrow()
            return pa.concat_tables([pq.read_table(p) for p in parts])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _write(self, statements: Query | list[Statement], path: Path, fmt: str, **options) -> None:
        """The last statement's result as one file at `path` (one task writes it: order kept)."""
        statements = self.statements(statements)
        for st in statements[:-1]:
            self._execute(st)
        last = statements[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = path.parent / f".{path.name}.spark"
        t0 = time.perf_counter()
        try:
            writer = self._frame(last).coalesce(1).write.mode("overwrite").options(**options)
            getattr(writer, fmt)(str(folder))
            parts = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
            if len(parts) != 1:
                raise InputError(f"spark wrote {len(parts)} files for {path.name}, expected one")
            os.replace(parts[0], path)
        except InputError:
            raise
        except Exception as exc:
            _reraise(exc)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            log.debug("spark: %s (%s) in %.3fs", last.step, fmt, time.perf_counter() - t0)

    def write_parquet(
        self,
        statements: Query | list[Statement],
        path: Path,
        row_group_size: int = 500_000,
        descriptions: dict[str, str] | None = None,
    ) -> None:
        self._write(statements, path, "parquet", compression="zstd")
        if descriptions:
            _describe(path, descriptions, row_group_size)

    def write_csv(self, statements: Query | list[Statement], path: Path, separator: str) -> None:
        self._write(statements, path, "csv", header="true", sep=separator, emptyValue="")

    def held_memory(self) -> int:
        """In local mode the driver's JVM (which runs every task) shares this worker's memory:
        its heap is held beside the search. A cluster's JVMs are elsewhere."""
        if os.environ.get("EXPORT_SPARK_REMOTE") or not self.spark.sparkContext.master.startswith("local"):
            return 0
        return jvm_bytes(self.spark.conf.get("spark.driver.memory", "1g"))

    def columns(self, view: str) -> list[tuple[str, str]]:
        return [(f.name, _duckdb_type(f.dataType)) for f in self.spark.table(view).schema.fields]

    def close(self) -> None:
        for view in sorted(self._views):
            self.spark.catalog.dropTempView(view)
        self._views.clear()
        if self._own_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            shutil.rmtree(self.scratch / "spark-tables", ignore_errors=True)


def _file_key(path: str) -> str:
    """A raw file's path as Spark reports it, less the local scheme: absolute, unquoted."""
    return path if "://" in path else str(Path(path).resolve())


def _spark_file_key(column: str):
    """`_file_key` of the path Spark reports (`file:/x` or `file:///x` for a local file)."""
    from pyspark.sql import functions as F

    # Spark reports a URL-encoded path; a literal '+' must not decode to a space.
    decoded = F.url_decode(F.regexp_replace(F.col(column), r"\+", "%2B"))
    return F.regexp_replace(decoded, "^file:(//)?", "")


def _duckdb_type(dtype) -> str:
    """A Spark type under DuckDB's name for it, so callers compare one vocabulary."""
    name = dtype.typeName()
    return {
        "string": "VARCHAR",
        "long": "BIGINT",
        "integer": "INTEGER",
        "short": "SMALLINT",
        "double": "DOUBLE",
        "float": "FLOAT",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp_ntz": "TIMESTAMP",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
        "binary": "BLOB",
    }.get(name, name.upper())


def _describe(path: Path, descriptions: dict[str, str], row_group_size: int) -> None:
    """Put the column descriptions into the file's Arrow field metadata, batch by batch."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    fields = [
        f.with_metadata({"description": descriptions[f.name]}) if f.name in descriptions else f
        for f in source.schema_arrow
    ]
    schema = pa.schema(fields)
    tmp = path.with_name(f".{path.name}.described")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as out:
        for batch in source.iter_batches(batch_size=row_group_size):
            out.write_table(pa.Table.from_batches([batch]).cast(schema), row_group_size=row_group_size)
    source.close()
    os.replace(tmp, path)


class SparkError(RuntimeError):
    """A Spark query failed; the message keeps Spark's error class and first words only."""


def _reraise(exc: Exception):
    """Re-raise a Spark failure without the values it may quote (raw rows hold personal data):
    an unreadable input as InputError (retried like any OSError), anything else as SparkError."""
    condition = getattr(exc, "getCondition", None)
    error_class = condition() if callable(condition) else None
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    for marker in ("Input:", "Line:", "Value:", '"', "'", "`"):
        first = first.split(marker)[0]
    first = first.strip()[:300]
    if error_class in _INPUT_ERRORS or any(c in text for c in _INPUT_ERRORS) or "java.io.IOException" in text:
        raise InputError(first) from None
    raise SparkError(f"{first} (error class {error_class or type(exc).__name__})") from None

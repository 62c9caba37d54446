"""DuckDB, the embedded default engine: one in-process connection per stage.

Settings keep large days within memory: `EXPORT_DUCKDB_MEMORY_LIMIT` (default: a third of the
memory this process may use, container limits included, at most 4GB and at least 256MB; see
`memory_limit`) and `EXPORT_DUCKDB_THREADS` override DuckDB's defaults; past the limit DuckDB
spills to the run's private work folder.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from transforms.backends.base import Backend, DataValueError, InputError, Query, Statement, ident, usable_memory

#: DuckDB's buffer pool by default: a share of the memory the process may use, within bounds.
#: The rest is left to Python (the engine's arrays, Great Expectations) and the OS's page cache.
MEMORY_SHARE = 1 / 3
MEMORY_CEILING = 4 * 10**9  # DuckDB's units are decimal: 4GB
MEMORY_FLOOR = 256 * 10**6

#: Spooled scratch (read back once or twice, then deleted): speed over size.
SPOOL_CODEC = "lz4_raw"

log = logging.getLogger(__name__)


def connect(spill_dir: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the project's settings."""
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    # Row order is fixed by explicit ORDER BY where it matters (published files).
    con.execute("SET preserve_insertion_order = false")
    # DuckDB's own default is 80% of RAM; a nightly job shares its worker, so bound it.
    con.execute("SET memory_limit = ?", [memory_limit()])
    if threads := os.environ.get("EXPORT_DUCKDB_THREADS"):
        con.execute("SET threads = ?", [int(threads)])
    if spill_dir:
        Path(spill_dir).mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(spill_dir)])
    return con


def memory_limit() -> str:
    """DuckDB's memory_limit: `EXPORT_DUCKDB_MEMORY_LIMIT` when set, else MEMORY_SHARE of
    `usable_memory()` between MEMORY_FLOOR and MEMORY_CEILING (4GB when it cannot be read)."""
    if configured := os.environ.get("EXPORT_DUCKDB_MEMORY_LIMIT"):
        return configured
    usable = usable_memory()
    if usable is None:
        return f"{MEMORY_CEILING // 10**6}MB"
    share = int(usable * MEMORY_SHARE)
    return f"{max(MEMORY_FLOOR, min(MEMORY_CEILING, share)) // 10**6}MB"


_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def setting_bytes(text: str) -> int:
    """DuckDB's rendering of a memory setting ("3.7 GiB", "953.6 MiB") in bytes."""
    number, _, unit = text.strip().partition(" ")
    return int(float(number) * _UNITS.get(unit or "bytes", 1))


class DuckDBBackend(Backend):
    name = "duckdb"
    sql_dir = Path(__file__).resolve().parent / "sql"

    def __init__(self, spill_dir: Path | None = None) -> None:
        self.con = connect(spill_dir)
        self.scratch = Path(spill_dir) if spill_dir else Path(tempfile.gettempdir())
        self._arrow: dict[str, pa.Table] = {}
        self._filesystems: set = set()
        self._spools: set[Path] = set()

    def held_memory(self) -> int:
        return setting_bytes(self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])

    def register_parquet(self, view: str, paths: list[Path] | Path) -> None:
        files = [str(p) for p in (paths if isinstance(paths, list) else [paths])]
        self.con.read_parquet(files).create_view(view, replace=True)

    def use_filesystem(self, fs) -> None:
        # DuckDB routes paths of the filesystem's protocols (s3://...) through fsspec.
        if fs.protocol not in self._filesystems:
            self.con.register_filesystem(fs)
            self._filesystems.add(fs.protocol)

    def register_day(self, events: list[str], event_format: str, subscribers: list[str], titles: list[str]) -> None:
        with cleaned_errors():
            for view, files in (("raw_subscribers", subscribers), ("raw_titles", titles)):
                snapshot = self.con.read_parquet(files, union_by_name=True, hive_partitioning=False)
                snapshot.create_view(view, replace=True)

    def register_arrow(self, view: str, table: pa.Table) -> None:
        # Copied into a temporary table, not scanned in place: DuckDB has no statistics for a
        # registered Arrow table and joins it 3x slower (generalize's lookup joins at 1M
        # events: 2.2 s against 0.7 s).
        self.con.register("_arrow_in", table)
        try:
            self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{view}" AS SELECT * FROM _arrow_in')
        finally:
            self.con.unregister("_arrow_in")

    def register_secret(self, view: str, table: pa.Table) -> None:
        # Key material stays in the caller's Arrow table, scanned in place: never copied into
        # DuckDB's buffer pool, whose pages may spill to its temp directory.
        self._arrow[view] = table  # DuckDB reads it in place; keep it alive
        self.con.register(view, table)

    def _execute(self, text: str, params: dict, step: str = "") -> duckdb.DuckDBPyConnection:
        t0 = time.perf_counter()
        try:
            with cleaned_errors():
                return self.con.execute(text, params)
        finally:
            # Step names and times only: never the statement's parameters (raw paths, values).
            log.debug("duckdb: %s in %.3fs", step or text.split(None, 1)[0], time.perf_counter() - t0)

    def run(self, statements: Query | list[Statement]) -> None:
        statements = self.statements(statements)
        for st in statements:
            self._execute(st.text, st.params, st.step)

    def _all_but_last(self, statements: Query | list[Statement]) -> Statement:
        """Run every statement but the last (which the caller reads or copies) and return it."""
        statements = self.statements(statements)
        for st in statements[:-1]:
            self._execute(st.text, st.params, st.step)
        return statements[-1]

    def fetch(self, statements: Query | list[Statement], large: bool = False) -> pa.Table:
        # In process: a large result is an Arrow table in this process's memory either way.
        last = self._all_but_last(statements)
        t0 = time.perf_counter()
        try:
            with cleaned_errors():
                return self.con.sql(last.text, params=last.params or None).to_arrow_table()
        finally:
            log.debug("duckdb: %s (fetch) in %.3fs", last.step, time.perf_counter() - t0)

    def write_parquet(
        self,
        statements: Query | list[Statement],
        path: Path,
        row_group_size: int = 500_000,
        descriptions: dict[str, str] | None = None,
    ) -> None:
        last = self._all_but_last(statements)
        path.parent.mkdir(parents=True, exist_ok=True)  # local or UPath: a no-op on a store
        metadata = self._field_metadata(last, path, descriptions) if descriptions else ""
        self._execute(
            f"COPY ({last.text}) TO $_path (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {int(row_group_size)}"
            f"{metadata})",
            {**last.params, "_path": str(path)},
            f"{last.step} (parquet)",
        )

    def _field_metadata(self, last: Statement, path: Path, descriptions: dict[str, str]) -> str:
        """A KV_METADATA clause carrying an Arrow schema (`ARROW:schema`, as pyarrow writes it) whose
        fields hold the descriptions. DuckDB has no per-field metadata; pyarrow, pandas and polars
        read it from this key. The schema is the one DuckDB writes, taken from an empty copy."""
        import pyarrow.parquet as pq

        empty = self.scratch / f".{path.name}.{os.getpid()}.schema"  # local, whatever `path` is
        try:
            self._execute(
                f"COPY (SELECT * FROM ({last.text}) LIMIT 0) TO $_path (FORMAT parquet)",
                {**last.params, "_path": str(empty)},
            )
            schema = pq.read_schema(empty)
        finally:
            empty.unlink(missing_ok=True)
        fields = [
            f.with_metadata({"description": descriptions[f.name]}) if f.name in descriptions else f for f in schema
        ]
        encoded = base64.b64encode(pa.schema(fields).serialize().to_pybytes()).decode("ascii")
        return f", KV_METADATA {{'ARROW:schema': '{encoded}'}}"  # base64: nothing to escape

    def spool(self, view: str, statements: Query | list[Statement]) -> None:
        # Streamed into Parquet (DuckDB's default row groups, so later scans run in parallel) and
        # read back through a view: at 10M events the day's fields as text (about 4.5 GB) did not
        # fit the buffer pool as a table and spilled. A spooled statement's source is a table
        # function DuckDB cannot size (it guesses a few hundred rows for a day of lines), so it
        # would build a join's hash table on the whole day instead of the small side: joins
        # there keep the sides they are written with (the day on the left, probing).
        last = self._all_but_last(statements)
        path = self._spool_path(view)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._spools.add(path)  # removed on close even if the copy fails half-written
        self.con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        try:
            self._execute(
                f"COPY ({last.text}) TO $_path (FORMAT parquet, COMPRESSION {SPOOL_CODEC})",
                {**last.params, "_path": str(path)},
                f"{last.step} (spool)",
            )
        finally:
            self.con.execute("RESET disabled_optimizers")
        self.register_parquet(view, path)

    def unspool(self, view: str) -> None:
        self.con.execute(f'DROP VIEW IF EXISTS "{ident(view)}"')
        path = self._spool_path(view)
        path.unlink(missing_ok=True)
        self._spools.discard(path)

    def _spool_path(self, view: str) -> Path:
        # Per process and engine: two engines may share a scratch folder (the temp dir by default).
        return self.scratch / f"spool-{ident(view)}-{os.getpid()}-{id(self):x}.parquet"

    def write_csv(self, statements: Query | list[Statement], path: Path, separator: str) -> None:
        last = self._all_but_last(statements)
        self._execute(
            f"COPY ({last.text}) TO $_path (HEADER, DELIMITER $_sep)",
            {**last.params, "_path": str(path), "_sep": separator},
        )

    def columns(self, view: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.con.execute(f'DESCRIBE "{view}"').fetchall()]

    def close(self) -> None:
        self.con.close()
        for path in self._spools:  # raw-derived scratch: never left behind, whatever happened
            path.unlink(missing_ok=True)
        self._spools.clear()


@contextmanager
def cleaned_errors() -> Iterator[None]:
    """DuckDB's errors as the project's, their text cut before any quoted input: a file it
    could not read (`InputError`, retried) or a value it could not convert (`DataValueError`)."""
    try:
        yield
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        raise InputError(first_line(exc)) from None
    except duckdb.DataError as exc:
        raise DataValueError(first_line(exc, quoted=True)) from None


def first_line(exc: Exception, quoted: bool = False) -> str:
    """The first line of a DuckDB error with any quoted input cut off.

    DuckDB quotes the offending input in some errors ("Input: ...", "Original Line: ...");
    raw lines hold personal data, so only the part naming the file and problem is kept. With
    `quoted` (errors about a value: "Could not convert string 'x' to INT32") the text stops
    at the first single quote too.
    """
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for marker in ("Input:", "Original Line", "Line:", "Value:", '"', *(("'",) if quoted else ())):
        text = text.split(marker)[0]
    return text.strip()[:300]

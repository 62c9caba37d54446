"""DuckDB connections for the pipeline: one database file per run in the private work folder."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

DEFAULT_MEMORY_LIMIT = "4GB"


def connect(path: str | Path | None, temp_dir: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open the run's database with settings that keep large days within memory.

    `EXPORT_DUCKDB_MEMORY_LIMIT` and `EXPORT_DUCKDB_THREADS` override DuckDB's defaults; past
    the memory limit DuckDB spills to `temp_dir`.
    """
    con = duckdb.connect(str(path) if path else ":memory:")
    con.execute("SET enable_progress_bar = false")
    # Row order is fixed by explicit ORDER BY where it matters (published files).
    con.execute("SET preserve_insertion_order = false")
    # DuckDB's own default is 80% of RAM; a nightly job shares its worker, so bound it.
    con.execute("SET memory_limit = ?", [os.environ.get("EXPORT_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)])
    if threads := os.environ.get("EXPORT_DUCKDB_THREADS"):
        con.execute(f"SET threads = {int(threads)}")
    if temp_dir:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(temp_dir)])
    return con


def sql_str(text: str | Path) -> str:
    """A string literal for the few places DuckDB takes no parameter (table function paths)."""
    return "'" + str(text).replace("'", "''") + "'"


def sql_list(items: list[str]) -> str:
    return "[" + ", ".join(sql_str(i) for i in items) + "]"


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    row = con.execute(query, params or []).fetchone()
    return None if row is None else row[0]

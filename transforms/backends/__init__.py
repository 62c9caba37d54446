"""The engine seam: the heavy steps run as named SQL on a backend (DuckDB, or Spark).

Stages and the privacy engine never talk to an engine directly; they ask a `Backend` to
register datasets (Parquet files, small Arrow tables), run named SQL steps (`sql(name, ...)`,
rendered by the backend from its own `<engine>/sql/*.sql`, values bound as `$name`
parameters), fetch small results and write Parquet. A second engine is a folder beside
`duckdb/` implementing `base.Backend`, with its own `sql/` holding the same step names.
"""

from __future__ import annotations

from pathlib import Path

from transforms.backends.base import WORK_ROW_GROUP, Backend, InputError, Query, Statement, render, sql, usable_memory


def open_backend(engine: str, spill_dir: Path | None = None) -> Backend:
    """The backend for `engine` (context.ENGINES); `spill_dir` is private scratch space."""
    if engine == "duckdb":
        from transforms.backends.duckdb import DuckDBBackend

        return DuckDBBackend(spill_dir)
    if engine == "spark":
        from transforms.backends.spark import SparkBackend

        return SparkBackend(spill_dir)
    raise ValueError(f"unknown engine {engine!r}; engines: duckdb, spark")


__all__ = [
    "WORK_ROW_GROUP",
    "Backend",
    "InputError",
    "Query",
    "Statement",
    "open_backend",
    "render",
    "sql",
    "usable_memory",
]

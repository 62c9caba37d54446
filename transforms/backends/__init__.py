"""The engine seam: the heavy steps run as named SQL on a backend (DuckDB today).

Stages and the privacy engine never talk to an engine directly; they ask a `Backend` to
register datasets (Parquet files, small Arrow tables), run named SQL steps rendered from
`sql/*.sql` (DuckDB dialect, values bound as `$name` parameters), fetch small results and
write Parquet. A second engine is a folder beside `duckdb/` implementing `base.Backend`.
"""

from __future__ import annotations

from pathlib import Path

from transforms.backends.base import Backend, InputError, Statement, sql


def open_backend(engine: str, spill_dir: Path | None = None) -> Backend:
    """The backend for `engine` ("duckdb"); `spill_dir` is private scratch space."""
    if engine == "duckdb":
        from transforms.backends.duckdb import DuckDBBackend

        return DuckDBBackend(spill_dir)
    raise ValueError(f"unknown engine {engine!r}; engines: duckdb")


__all__ = ["Backend", "InputError", "Statement", "open_backend", "sql"]

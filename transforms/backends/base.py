"""What every engine implements, and the named SQL steps they run.

A step is a file `sql/<name>.sql` holding one or more statements (DuckDB dialect) separated
by `;` at the end of a line. Files are Jinja templates for the *shape* of a statement only
(which columns, how many lookups to join): identifiers pass through the `ident` filter,
which refuses anything that is not a plain lower-case name. Every *value* (days, k,
thresholds, paths, labels) is a bound `$name` parameter, never SQL text.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

SQL_DIR = Path(__file__).resolve().parent / "sql"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def ident(name: str) -> str:
    """A column or table name for SQL text; anything but a plain lower-case name is refused."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"{name!r} is not a safe SQL identifier (lower case letters, digits, _)")
    return name


def quoted(name: str) -> str:
    """A free-form column name (CSV headers) as a quoted identifier."""
    return '"' + str(name).replace('"', '""') + '"'


class InputError(Exception):
    """An engine could not read its input (truncated, unreadable or malformed files).

    The message is the engine's first line with any quoted input cut off: raw lines hold
    personal data.
    """


@cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 (SQL, not HTML; identifiers are checked by `ident`)
        trim_blocks=False,  # a block tag never swallows the newline that separates two tokens
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ident"] = ident
    env.filters["quoted"] = quoted
    return env


@dataclass(frozen=True)
class Statement:
    """One rendered statement and the parameters it uses."""

    step: str
    text: str
    params: dict[str, Any] = field(default_factory=dict)


def sql(step: str, params: dict[str, Any] | None = None, **shape: Any) -> list[Statement]:
    """Render `sql/<step>.sql` with `shape`, split it into statements, bind each one's parameters."""
    text = _environment().get_template(f"{step}.sql").render(**shape)
    params = params or {}
    out = []
    for part in re.split(r";\s*\n", text):
        body = "\n".join(line for line in part.splitlines() if not line.strip().startswith("--")).strip()
        if not body:
            continue
        used = set(_PARAM.findall(body))
        missing = sorted(used - set(params))
        if missing:
            raise KeyError(f"sql/{step}.sql needs parameters {missing}")
        out.append(Statement(step, body, {k: params[k] for k in sorted(used)}))
    return out


class Backend(ABC):
    """An engine that runs the named steps over datasets registered under view names."""

    name: str

    @abstractmethod
    def register_parquet(self, view: str, paths: list[Path] | Path) -> None:
        """Make Parquet files readable as `view`."""

    @abstractmethod
    def register_arrow(self, view: str, table: pa.Table) -> None:
        """Make a small in-memory table readable as `view` (lookups, decisions)."""

    @abstractmethod
    def run(self, statements: list[Statement]) -> None:
        """Run statements that create tables or views; nothing is returned."""

    @abstractmethod
    def fetch(self, statements: list[Statement]) -> pa.Table:
        """Run statements and return the last one's (small) result."""

    @abstractmethod
    def write_parquet(self, statements: list[Statement], path: Path, row_group_size: int = 500_000) -> None:
        """Write the last statement's result (a SELECT) to one zstd Parquet file at `path`."""

    @abstractmethod
    def write_csv(self, statements: list[Statement], path: Path, separator: str) -> None:
        """Write the last statement's result to a CSV file with a header."""

    @abstractmethod
    def columns(self, view: str) -> list[tuple[str, str]]:
        """(name, type) of a registered view or table."""

    @abstractmethod
    def close(self) -> None: ...

    def materialize(self, table: str, statements: list[Statement]) -> None:
        """Run the statements, keeping the last one's result as the temporary table `table`."""
        last = statements[-1]
        create = Statement(last.step, f"CREATE OR REPLACE TEMP TABLE {ident(table)} AS {last.text}", last.params)
        self.run([*statements[:-1], create])

    def scalar(self, statements: list[Statement]) -> Any:
        table = self.fetch(statements)
        return table.column(0)[0].as_py() if table.num_rows else None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

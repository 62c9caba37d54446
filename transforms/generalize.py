"""Generalize: give every quasi-identifier value its label at each level of its hierarchy.

Grain of `gen_events`: one row per valid play: pseudonym, kept columns, and per
quasi-identifier the id of its source value in a lookup table `lk_<column>` that holds the
labels of every level (l0 finest ... lN = "*"). Keeping all levels lets the anonymizer choose
levels without touching the rows again; Python only sees the distinct source values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa

from transforms.hierarchies import Hierarchy, build_all
from transforms.policy import Policy, QuasiIdentifier
from transforms.search import level_costs

log = logging.getLogger(__name__)


def derived_sql(qi: QuasiIdentifier) -> list[str]:
    """SQL for the values the hierarchy reads, one per source column."""
    if qi.derive == "age_years":
        return [f"date_sub('year', {qi.source[0]}, $day)"]
    if qi.derive == "hour_of_day":
        return [f"hour({qi.source[0]})"]
    return list(qi.source)


@dataclass
class GeneralizeResult:
    rows: int
    distinct_values: dict[str, int]


def build_lookup(
    con: duckdb.DuckDBPyConnection,
    source: str,
    column: str,
    exprs: list[str],
    h: Hierarchy,
    params: dict | None = None,
) -> int:
    """lk_<column>: one row per distinct source value with its label and cost at every level."""
    src = [f"s{i}" for i in range(len(exprs))]
    distinct = con.execute(
        f"SELECT DISTINCT {', '.join(f'{e} AS {s}' for e, s in zip(exprs, src, strict=True))} FROM {source}",
        params or {},
    ).fetchall()
    distinct.sort(key=lambda row: tuple((v is None, str(v)) for v in row))
    labels = [h.labels(row[0] if len(row) == 1 else row) for row in distinct]
    columns: dict[str, list] = {"id": list(range(len(distinct)))}
    for i, s in enumerate(src):
        columns[s] = [row[i] for row in distinct]
    priced = set()
    for level in range(h.height):
        columns[f"l{level}"] = [lab[level] for lab in labels]
        fixed = h.costs(level)
        if fixed is not None:
            columns[f"c{level}"] = [fixed.get(lab[level], 1.0) for lab in labels]
            priced.add(level)
    con.register("_lookup", pa.table(columns))
    con.execute(f"CREATE OR REPLACE TABLE lk_{column} AS SELECT * FROM _lookup")
    con.unregister("_lookup")
    level_costs(con, f"lk_{column}", h.height, priced)
    return len(distinct)


def attach_ids(
    con: duckdb.DuckDBPyConnection,
    source: str,
    target: str,
    keep: list[str],
    qis: list[tuple[str, list[str]]],
    params: dict | None = None,
) -> None:
    """target: `keep` columns of source plus, per quasi-identifier, the id of its source value."""
    joins, ids = [], []
    for n, (column, exprs) in enumerate(qis):
        cond = " AND ".join(f"k{n}.s{i} IS NOT DISTINCT FROM {expr}" for i, expr in enumerate(exprs))
        joins.append(f"JOIN lk_{column} k{n} ON {cond}")
        ids.append(f"k{n}.id AS {column}_id")
    con.execute(
        f"CREATE OR REPLACE TABLE {target} AS SELECT {', '.join(f'e.{c}' for c in keep)}, {', '.join(ids)} "
        f"FROM {source} e {' '.join(joins)}",
        params or {},
    )


def generalize(con: duckdb.DuckDBPyConnection, policy: Policy, day: date) -> GeneralizeResult:
    hierarchies = build_all(policy)
    params = {"day": day}
    counts = {}
    qis = []
    for qi in policy.quasi_identifiers:
        exprs = derived_sql(qi)
        uses_day = any("$day" in e for e in exprs)
        counts[qi.column] = build_lookup(
            con, "pseudo_events", qi.column, exprs, hierarchies[qi.column], params if uses_day else None
        )
        qis.append((qi.column, exprs))
    uses_day = any("$day" in e for _, exprs in qis for e in exprs)
    attach_ids(con, "pseudo_events", "gen_events", [policy.pseudonym.column, *policy.kept_columns], qis,
               params if uses_day else None)  # fmt: skip
    rows = int(con.execute("SELECT count(*) FROM gen_events").fetchone()[0])
    return GeneralizeResult(rows=rows, distinct_values=counts)

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


def build_lookup(con: duckdb.DuckDBPyConnection, qi: QuasiIdentifier, h: Hierarchy, day: date) -> int:
    exprs = derived_sql(qi)
    src = [f"s{i}" for i in range(len(exprs))]
    distinct = con.execute(
        f"SELECT DISTINCT {', '.join(f'{e} AS {s}' for e, s in zip(exprs, src, strict=True))} FROM pseudo_events",
        {"day": day} if "$day" in " ".join(exprs) else {},
    ).fetchall()
    distinct.sort(key=lambda row: tuple((v is None, str(v)) for v in row))
    labels = [h.labels(row[0] if len(row) == 1 else row) for row in distinct]
    columns: dict[str, list] = {"id": list(range(len(distinct)))}
    for i, s in enumerate(src):
        columns[s] = [row[i] for row in distinct]
    for level in range(h.height):
        columns[f"l{level}"] = [lab[level] for lab in labels]
    table = pa.table(columns)
    con.register("_lookup", table)
    con.execute(f"CREATE OR REPLACE TABLE lk_{qi.column} AS SELECT * FROM _lookup")
    con.unregister("_lookup")
    level_costs(con, f"lk_{qi.column}", h.height)
    return len(distinct)


def generalize(con: duckdb.DuckDBPyConnection, policy: Policy, day: date) -> GeneralizeResult:
    hierarchies = build_all(policy)
    counts = {}
    joins, ids = [], []
    params: dict[str, object] = {}
    for n, qi in enumerate(policy.quasi_identifiers):
        counts[qi.column] = build_lookup(con, qi, hierarchies[qi.column], day)
        alias = f"k{n}"
        cond = " AND ".join(f"{alias}.s{i} IS NOT DISTINCT FROM {expr}" for i, expr in enumerate(derived_sql(qi)))
        joins.append(f"JOIN lk_{qi.column} {alias} ON {cond}")
        ids.append(f"{alias}.id AS {qi.column}_id")
        if qi.derive == "age_years":
            params["day"] = day
    keep = [policy.pseudonym.column, *policy.kept_columns]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE gen_events AS
        SELECT {", ".join(f"e.{c}" for c in keep)}, {", ".join(ids)}
        FROM pseudo_events e
        {" ".join(joins)}
        """,
        params,
    )
    rows = int(con.execute("SELECT count(*) FROM gen_events").fetchone()[0])
    return GeneralizeResult(rows=rows, distinct_values=counts)

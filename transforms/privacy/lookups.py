"""Lookup tables: each quasi-identifier's distinct source values labelled at every level.

Grain of `lk_<column>`: one row per distinct source value of the day: `id`, the source value
(`s0`, `s1`, ... one per source column), and per level L its label `l<L>`, dense label code
`g<L>`, Loss cost `c<L>`, and the label's companions `<companion>__<L>` (a title's name).
Python only sees distinct values; the engine joins the table.
Rows then carry only the id (`<column>_id`), so any level can be chosen without touching
them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from transforms.backends import Backend, sql
from transforms.context import Views
from transforms.privacy.hierarchies import Hierarchy


@dataclass(frozen=True)
class Source:
    """Where one quasi-identifier's value comes from: source columns and a derivation."""

    column: str  # the published name (lookup lk_<column>, row column <column>_id)
    sources: tuple[str, ...]
    derive: str = "none"


def build_lookup(
    backend: Backend, source_view: str, src: Source, h: Hierarchy, params: dict[str, Any] | None = None
) -> pa.Table:
    """Label the distinct source values at every level; register and return `lk_<column>`."""
    values = backend.fetch(
        sql("distinct_values", params, source=source_view, sources=src.sources, derive=src.derive)
    ).to_pylist()
    distinct = [tuple(v[f"s{i}"] for i in range(len(src.sources))) for v in values]
    distinct.sort(key=lambda row: tuple((v is None, str(v)) for v in row))
    values = [row[0] if len(row) == 1 else row for row in distinct]
    labels = [h.labels(v) for v in values]
    companions = [h.companion_values(v) for v in values] if h.companions else []
    columns: dict[str, list] = {"id": list(range(len(distinct)))}
    for i in range(len(src.sources)):
        columns[f"s{i}"] = [row[i] for row in distinct]
    priced = set()
    for level in range(h.height):
        columns[f"l{level}"] = [lab[level] for lab in labels]
        for name in h.companions:
            columns[f"{name}__{level}"] = [comp[level][name] for comp in companions]
        fixed = h.costs(level)
        if fixed is not None:
            columns[f"c{level}"] = [fixed.get(lab[level], 1.0) for lab in labels]
            priced.add(level)
    raw = f"_raw_{src.column}"
    backend.register_arrow(raw, pa.table(columns))
    n = len(distinct)
    table = backend.fetch(
        sql(
            "lookup_codes",
            {"denominator": float(n - 1)} if n > 1 else {},
            source=raw,
            height=h.height,
            priced=priced,
            values=n,
        )
    )
    backend.register_arrow(Views.lookup(src.column), table)
    return table

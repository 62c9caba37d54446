"""Lookup tables: each quasi-identifier's distinct source values labelled at every level.

Grain of `lk_<column>`: one row per distinct source value of the day: `id`, the source value
(`s0`, `s1`, ... one per source column), and per level L its label `l<L>`, dense label code
`g<L>`, Loss cost `c<L>`, and the label's companions `<companion>__<L>` (a title's name).
Python only sees distinct values; the engine joins the table.
Rows then carry only the id (`<column>_id`), so any level can be chosen without touching
them again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
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
    with _collector_paused():
        return _build_lookup(backend, source_view, src, h, params)


def _build_lookup(
    backend: Backend, source_view: str, src: Source, h: Hierarchy, params: dict[str, Any] | None
) -> pa.Table:
    found = backend.fetch(sql("distinct_values", params, source=source_view, sources=src.sources, derive=src.derive))
    columns_in = [found.column(f"s{i}").to_pylist() for i in range(len(src.sources))]
    distinct = list(zip(*columns_in, strict=True))
    if all(c.null_count == 0 and pa.types.is_string(c.type) for c in found.columns):
        distinct.sort()  # the same order as the general key below: every value is a str
    else:
        distinct.sort(key=lambda row: tuple((v is None, str(v)) for v in row))
    values = [row[0] for row in distinct] if len(src.sources) == 1 else distinct
    labelled = [h.labelled(v) for v in values]
    n = len(distinct)
    # Transposed once: per level its labels, per (level, companion) its values.
    by_level = _transpose([lab for lab, _ in labelled], h.height)
    columns: dict[str, Any] = {"id": pa.array(range(n), pa.int64())}
    for i in range(len(src.sources)):
        columns[f"s{i}"] = [row[i] for row in distinct]
    priced = set()
    for level in range(h.height):
        columns[f"l{level}"] = pa.array(by_level[level], pa.string())
        if h.companions:
            per_name = _transpose([comp[level] for _, comp in labelled], len(h.companions))
            for name, values_of in zip(h.companions, per_name, strict=True):
                columns[f"{name}__{level}"] = pa.array(values_of, pa.string())
        fixed = h.costs(level)
        if fixed is not None:
            columns[f"c{level}"] = [fixed.get(label, 1.0) for label in by_level[level]]
            priced.add(level)
    raw = f"_raw_{src.column}"
    backend.register_arrow(raw, pa.table(columns))
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


def _transpose(rows: list, width: int) -> list[tuple]:
    """Rows of `width` values as `width` columns (empty columns when there are no rows)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a lookup's labels are made: they are a few
    million acyclic lists, tuples and strings, on which the collector's repeated full passes
    took half the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

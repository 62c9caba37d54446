"""Protect an aggregate export: contribution bounds, primary and secondary cell suppression.

Reads   work/generalized.parquet, work/lookups/*.parquet
Writes  work/decision/cells.parquet: every cell of every published margin (suppressed or not):
        its margin, the dimensions' codes, the measures, why it is suppressed

1. Each person's plays are grouped into the finest cells (every dimension at its policy
   level); per person and finest cell, plays and watch time are clipped to the policy's
   bounds, so no one person can weigh more than that in any cell.
2. Every margin's cells are computed from those bounded contributions in one query (GROUPING
   SETS for the coarser margins): distinct people, the sums, and the largest single person's
   contribution.
3. Primary suppression: fewer than `min_viewers` people, or one person holding more than
   `dominance` of a cell's plays or hours.
4. Secondary suppression (privacy/tables.py): extra cells until no suppressed cell can be
   recomputed or narrowed by arithmetic on the published ones.

Pseudonyms are only used here to count people: nothing below a cell leaves this stage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from transforms import storage
from transforms.backends import Backend, sql
from transforms.config.policy import Policy
from transforms.context import Views, WorkFiles
from transforms.privacy import tables
from transforms.runtime import StageRun

log = logging.getLogger(__name__)

PERSON_CELLS = "person_cells"
OPEN_CELLS = "open_cells"
#: Reasons a cell is absent from the published table.
REASONS = ("published", "few_people", "dominated", "secondary")
#: The engine's name for each measure kind.
ENGINE_KIND = {"distinct_people": "people", "count": "count", "sum_hours": "sum"}


@dataclass(frozen=True)
class Shape:
    """The policy's table: dimensions (each at one level), margins and measures."""

    dims: list[dict]  # column, level (index), label column, companions
    margins: list[tuple[int, ...]]
    sums: list[dict]  # the sum_hours measures: name, column

    @classmethod
    def of(cls, policy: Policy) -> Shape:
        hierarchies = policy.hierarchies()
        dims = []
        for qi in policy.quasi_identifiers:
            level = qi.level_range(hierarchies[qi.column])[0]
            dims.append({"column": qi.column, "level": level, "companions": list(qi.publish)})
        order = {c: i for i, c in enumerate(policy.dimension_columns)}
        margins = [tuple(order[c] for c in m) for m in policy.margin_list]
        sums = [{"name": m.name, "column": m.column} for m in policy.measures if m.kind == "sum_hours"]
        return cls(dims, margins, sums)

    def cell_margins(self) -> dict:
        """agg_cells' shape: the margins to group again (all but the finest), and whether the
        finest margin (every dimension) is published, read as `person_cells` already has it."""
        full = tuple(range(len(self.dims)))
        return {"margins": [m for m in self.margins if m != full], "finest": full in self.margins}

    def grouping(self, margin: tuple[int, ...]) -> str:
        """The published `grouping` of a margin: its dimensions, or `all` for the grand total."""
        return ",".join(self.dims[i]["column"] for i in margin) or "all"


def gid_of(margin: tuple[int, ...], n: int) -> int:
    """DuckDB's GROUPING() bitmask of a margin: bit (n-1-i) set when dimension i is not grouped."""
    return sum(1 << (n - 1 - i) for i in range(n) if i not in margin)


def register_inputs(b: Backend, policy: Policy, work: WorkFiles) -> None:
    b.register_parquet(Views.GENERALIZED, work.generalized)
    for qi in policy.qi_columns:
        b.register_parquet(Views.lookup(qi), work.lookup(qi))


def build_person_cells(b: Backend, policy: Policy, shape: Shape) -> None:
    p = policy.protection
    b.run(
        sql(
            "agg_person_cells",
            {"max_plays": p.max_plays_per_person, "max_seconds": round(p.max_watch_hours_per_person * 3600)},
            source=Views.GENERALIZED,
            person=policy.pseudonym.column,
            dims=shape.dims,
            sums=shape.sums,
        )
    )


def run(s: StageRun) -> dict:
    s.needs("generalize")
    policy, b = s.policy, s.backend
    p = policy.protection
    shape = Shape.of(policy)
    register_inputs(b, policy, s.work)
    t0 = time.perf_counter()
    build_person_cells(b, policy, shape)
    additive_row = b.fetch(sql("agg_additive", dims=shape.dims)).to_pylist()
    n = len(shape.dims)
    # Distinct people add up along a dimension only if nobody has two values of it tonight
    # (an age band always; a country unless someone travelled; never a title).
    additive = [i for i in range(n) if additive_row and (additive_row[0][f"d{i}"] or 0) <= 1]
    cells = b.fetch(sql("agg_cells", dims=shape.dims, sums=shape.sums, **shape.cell_margins()), large=True)
    cells_seconds = time.perf_counter() - t0
    margin_of_gid = np.full(1 << n, -1, dtype=np.int64)  # GROUPING's bitmask -> margin index
    for i, m in enumerate(shape.margins):
        margin_of_gid[gid_of(m, n)] = i
    margin = margin_of_gid[cells.column("gid").to_numpy().astype(np.int64)]
    if (margin < 0).any():
        raise RuntimeError("internal check failed: a cell of a margin the table does not publish")
    codes = np.stack([cells.column(f"d{i}").to_numpy() for i in range(n)], axis=1).astype(np.int64)
    measures = {"people": "people", "plays": "count", **{m["name"]: "sum" for m in shape.sums}}
    values = {m: cells.column(m).to_numpy().astype(np.int64) for m in measures}
    table = tables.Table(n, shape.margins, margin, codes, values, measures, frozenset(additive))

    few = values["people"] < p.min_viewers
    need = {"people": np.where(few, float(p.min_viewers), 0.0)}
    dominated = np.zeros(len(table), dtype=bool)
    published_counts = any(m.kind == "count" for m in policy.measures)
    for m in measures:
        if m == "people" or (m == "plays" and not published_counts):
            continue
        top = cells.column(f"top_{m}").to_numpy().astype(np.float64)
        total = values[m].astype(np.float64)
        hit = (total > 0) & (top > p.dominance * total)
        dominated |= hit
        need[m] = np.where(hit, top / p.dominance, 0.0)
    t1 = time.perf_counter()
    decision = tables.protect(table, need)
    protect_seconds = time.perf_counter() - t1
    reason = np.where(
        ~decision.suppressed,
        "published",
        np.where(few, "few_people", np.where(dominated, "dominated", "secondary")),
    )
    out = {
        "margin": margin,
        "grouping": np.array([shape.grouping(m) for m in shape.margins], dtype=object)[margin],
        **{f"d{i}": codes[:, i] for i in range(n)},
        **{m: values[m] for m in measures},
        "suppressed": decision.suppressed,
        "reason": reason,
        # The certified reach of each cell (what an attacker cannot rule out) per protected measure.
        **{f"need_{m}": need[m] for m in need},
        **{f"reach_{m}": np.minimum(decision.upper[m], 1e18) for m in need},
    }
    s.work.decision.mkdir(parents=True, exist_ok=True)
    storage.write_table(pa.table(out), s.work.decision / "cells.parquet", compression="zstd")
    uncertified = int((decision.primary & ~decision.suppressed).sum())
    for m in need:
        uncertified += int((decision.primary & (need[m] > 0) & (decision.upper[m] < need[m] - 1e-9)).sum())
    if uncertified:  # tables.protect only returns once every primary cell is certified
        raise RuntimeError(f"cell suppression left {uncertified} primary cells without protection")

    # What stays visible, counted on the bounded contributions (finest cells).
    finest = margin == shape.margins.index(tuple(range(n)))
    open_codes = {f"d{i}": codes[finest & ~decision.suppressed, i] for i in range(n)}
    b.register_arrow(OPEN_CELLS, pa.table(open_codes))
    reach = b.fetch(sql("agg_reach", dims=shape.dims, sums=shape.sums)).to_pylist()[0]
    by_margin = {}
    for i, m in enumerate(shape.margins):
        here = margin == i
        by_margin[shape.grouping(m)] = {r: int((here & (reason == r)).sum()) for r in REASONS}
    by_dimension = {}
    for d, dim in enumerate(shape.dims):
        holding = np.isin(margin, [i for i, m in enumerate(shape.margins) if d in m])
        by_dimension[dim["column"]] = {r: int((holding & (reason == r)).sum()) for r in REASONS[1:]}
    plays_raw, plays_counted = int(reach["plays_raw"] or 0), int(reach["plays_counted"] or 0)
    summary = {
        "dimensions": {d["column"]: d["level"] for d in shape.dims},
        "margins": [shape.grouping(m) for m in shape.margins],
        "people_additive": [shape.dims[i]["column"] for i in additive],
        "protected_measures": list(need),
        "cells": len(table),
        "published_cells": int((~decision.suppressed).sum()),
        "primary_few_people": int((reason == "few_people").sum()),
        "primary_dominated": int((reason == "dominated").sum()),
        "secondary": int((reason == "secondary").sum()),
        "by_margin": by_margin,
        "by_dimension": by_dimension,
        "rounds": decision.rounds,
        "people_in": int(reach["people_all"] or 0),
        "people_visible": int(reach["people_visible"] or 0),
        "plays_raw": plays_raw,
        "plays_clipped": plays_raw - plays_counted,
        "plays_counted": plays_counted,
        "plays_visible": int(reach["plays_visible"] or 0),
        "seconds_counted": {m["name"]: int(reach[f"{m['name']}_counted"] or 0) for m in shape.sums},
        "seconds_visible": {m["name"]: int(reach[f"{m['name']}_visible"] or 0) for m in shape.sums},
        "cells_seconds": round(cells_seconds, 3),
        "suppression_seconds": round(protect_seconds, 3),
    }
    log.info(
        "anonymize (aggregate): %d cells, %d published, %d primary (%d few people, %d dominated), %d secondary "
        "in %d rounds (%.2fs)",
        summary["cells"],
        summary["published_cells"],
        summary["primary_few_people"] + summary["primary_dominated"],
        summary["primary_few_people"],
        summary["primary_dominated"],
        summary["secondary"],
        decision.rounds,
        protect_seconds,
    )
    return summary

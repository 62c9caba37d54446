"""Choose generalization levels: the least information loss that meets k within the limit.

The search works on a frequency table built once by DuckDB: one row per distinct
(quasi-identifier source values, person) with its row count, widened with every level's
label code and cost. Evaluating a candidate node of the lattice (one level per
quasi-identifier) is then one GROUP BY over that table, whatever the raw row count.

Objective: ARX's Loss. Per attribute, a value generalized to a label covering m of the n
leaves costs (m-1)/(n-1); a suppressed value costs 1; the loss is the mean over attributes
and rows. Leaves are the distinct source values of the day (the hierarchy's level 0).

Exactness (branch and bound): for any node N, the loss of N and of every generalization of N
is at least gen_loss(N), the loss if no row were suppressed (suppression costs 1, more than
any generalization, and generalizing never lowers a value's cost). The search stops when the
lowest unvisited gen_loss reaches the best loss found, so the node returned is a true optimum.
Feasibility is monotone (generalizing merges classes and can only shrink suppression), so a
node below a known infeasible node is skipped unevaluated. Visits alternate between the
lowest-bound node (tightens the stop) and the most general undecided node (finds infeasible
nodes high in the lattice, which rule out everything below them).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field

import duckdb

log = logging.getLogger(__name__)


@dataclass
class NodeResult:
    levels: tuple[int, ...]
    feasible: bool
    suppressed_rows: int
    loss: float
    classes: int


@dataclass
class SearchResult:
    best: NodeResult | None
    evaluated: int
    skipped_by_monotonicity: int
    lattice_size: int
    seconds: float
    trace: list[NodeResult] = field(default_factory=list)
    kept_preferred: bool = False


def _below(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True))


def level_costs(con: duckdb.DuckDBPyConnection, lookup: str, height: int, priced: set[int] = frozenset()) -> None:
    """Add to a lookup table, per level L: g{L} (dense label code) and c{L} (Loss cost).

    Levels in `priced` already have c{L} (costs fixed by the hierarchy); the others are priced
    on the lookup's rows, the distinct source values of the day.
    """
    n = int(con.execute(f"SELECT count(*) FROM {lookup}").fetchone()[0])
    parts = []
    for level in range(height):
        parts.append(f"dense_rank() OVER (ORDER BY l{level}) - 1 AS g{level}")
        if level in priced:
            continue
        if n <= 1:
            parts.append(f"CASE WHEN l{level} = '*' THEN 1.0 ELSE 0.0 END AS c{level}")
        else:
            parts.append(f"(count(*) OVER (PARTITION BY l{level}) - 1) / {float(n - 1)} AS c{level}")
    con.execute(f"CREATE OR REPLACE TABLE {lookup} AS SELECT *, {', '.join(parts)} FROM {lookup} ORDER BY id")


def build_frequency_table(
    con: duckdb.DuckDBPyConnection,
    source: str,
    person: str,
    qis: list[str],
    ranges: list[tuple[int, int]],
    sensitive: str | None = None,
) -> int:
    """freq: one row per (label codes at every level the search may choose, person).

    Hierarchies nest, so values sharing a label at the lowest allowed level share it, and its
    cost, at every level above: grouping them first is exact and shrinks the table.
    """
    ids = ", ".join(f"{q}_id" for q in qis)
    cols, joins = [], []
    for n, (q, (lo, hi)) in enumerate(zip(qis, ranges, strict=True)):
        joins.append(f"JOIN lk_{q} q{n} ON q{n}.id = f.{q}_id")
        for level in range(lo, hi + 1):
            cols.append(f"q{n}.g{level} AS {q}_g{level}, q{n}.c{level} AS {q}_c{level}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE freq AS
        WITH people AS (
            SELECT {person}, row_number() OVER (ORDER BY {person}) AS pid
            FROM (SELECT DISTINCT {person} FROM {source})
        ),
        f AS (
            SELECT {ids}, p.pid, {f"s.{sensitive}" if sensitive else "NULL"} AS sens, count(*) AS rows
            FROM {source} s JOIN people p USING ({person})
            GROUP BY ALL
        )
        SELECT f.pid, f.sens, {", ".join(cols)}, sum(f.rows) AS rows
        FROM f {" ".join(joins)}
        GROUP BY ALL
        """
    )
    return int(con.execute("SELECT count(*) FROM freq").fetchone()[0])


def generalization_loss(
    con: duckdb.DuckDBPyConnection, qis: list[str], ranges: list[tuple[int, int]]
) -> list[dict[int, float]]:
    """Row-weighted mean Loss cost per quasi-identifier and allowed level, nothing suppressed."""
    total = float(con.execute("SELECT sum(rows) FROM freq").fetchone()[0] or 1)
    keys = [(i, level) for i, (lo, hi) in enumerate(ranges) for level in range(lo, hi + 1)]
    sums = ", ".join(f"sum(rows * {qis[i]}_c{level})" for i, level in keys)
    values = con.execute(f"SELECT {sums} FROM freq").fetchone()
    out: list[dict[int, float]] = [{} for _ in qis]
    for (i, level), value in zip(keys, values, strict=True):
        out[i][level] = float(value) / total
    return out


def evaluate(
    con: duckdb.DuckDBPyConnection,
    qis: list[str],
    levels: tuple[int, ...],
    k: int,
    people: bool = False,
    min_l: int = 0,
) -> tuple[int, float, int, int, int, int, float, float]:
    """One node: (suppressed rows, loss numerator, classes kept, total rows, suppressed people,
    people, sum of kept classes' rows squared, sum of all classes' rows squared).

    A class is kept when it has >= k people and (with `min_l`) >= min_l distinct sensitive
    values. People are only counted when `people` is set (limit in people): it costs a join.
    """
    groups = ", ".join(f"{q}_g{lvl}" for q, lvl in zip(qis, levels, strict=True))
    cost = " + ".join(f"{q}_c{lvl}" for q, lvl in zip(qis, levels, strict=True))
    # Two aggregations (per person, then per class) beat count(DISTINCT pid) here.
    people_sql = (
        f"""(SELECT count(DISTINCT pp.pid) FROM per_person pp JOIN cls c USING ({groups}) WHERE c.people < $k),
            (SELECT count(DISTINCT pid) FROM freq)"""
        if people
        else "0, 0"
    )
    row = con.execute(
        f"""
        WITH per_person AS (
            SELECT {groups}, pid, sum(rows) AS rows, sum(rows * ({cost})) AS cost
            FROM freq GROUP BY {groups}, pid
        ),
        diversity AS (
            SELECT {groups}, {"count(DISTINCT sens)" if min_l else "0"} AS l FROM freq GROUP BY {groups}
        ),
        cls AS (
            SELECT {groups}, count(*) AS people, sum(rows) AS rows, sum(cost) AS cost,
                   count(*) < $k OR any_value(d.l) < $min_l AS small
            FROM per_person JOIN diversity d USING ({groups}) GROUP BY {groups}
        )
        SELECT coalesce(sum(rows) FILTER (WHERE small), 0),
               coalesce(sum(cost) FILTER (WHERE NOT small), 0),
               count(*) FILTER (WHERE NOT small),
               sum(rows),
               {people_sql.replace("c.people < $k", "c.small")},
               coalesce(sum(rows * rows) FILTER (WHERE NOT small), 0),
               sum(rows * rows)
        FROM cls
        """,
        {"k": k, "min_l": min_l},
    ).fetchone()
    return (int(row[0]), float(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]),
            float(row[6]), float(row[7]))  # fmt: skip


def search(
    con: duckdb.DuckDBPyConnection,
    qis: list[str],
    ranges: list[tuple[int, int]],
    k: int,
    suppression_limit: float,
    metric: str = "loss",
    heights: list[int] | None = None,
    unit: str = "rows",
    preferred: tuple[int, ...] | None = None,
    min_l: int = 0,
) -> SearchResult:
    """Exact optimum of `metric` with suppressed share <= suppression_limit (rows).

    metric "loss": ARX's Loss. metric "precision": ARX's Precision (height-based): each value
    costs its level / (hierarchy height - 1), a suppressed one 1; needs `heights`.
    unit "people": the limit counts people with any row suppressed instead of rows.
    preferred: a node to keep if it is feasible (stable levels across nights); no search then.
    """
    if metric not in ("loss", "precision", "discernibility"):
        raise ValueError(f"unknown metric {metric!r}; use loss, precision or discernibility")
    t0 = time.perf_counter()
    q = len(qis)
    if metric == "loss":
        gen = generalization_loss(con, qis, ranges)
    elif metric == "discernibility":
        # No bound before evaluation; after evaluating N, the sum of squares of all its classes
        # bounds every node above N (classes only grow, suppression costs all rows per row).
        gen = [dict.fromkeys(range(lo, hi + 1), 0.0) for lo, hi in ranges]
    else:
        if heights is None:
            raise ValueError("metric precision needs the hierarchies' heights")
        gen = [
            {lvl: lvl / max(1, h - 1) for lvl in range(lo, hi + 1)} for (lo, hi), h in zip(ranges, heights, strict=True)
        ]
    nodes = list(itertools.product(*(range(lo, hi + 1) for lo, hi in ranges)))
    bound = {n: sum(gen[i][lvl] for i, lvl in enumerate(n)) / q for n in nodes}
    ascending = sorted(nodes, key=lambda n: (bound[n], sum(n), n))
    descending = sorted(nodes, key=lambda n: (-sum(n), bound[n], n))
    best: NodeResult | None = None
    infeasible: list[tuple[int, ...]] = []  # maximal known-infeasible nodes
    decided: set[tuple[int, ...]] = set()
    dm_bounds: list[tuple[tuple[int, ...], float]] = []
    evaluated = skipped = 0
    trace: list[NodeResult] = []

    def visit(node: tuple[int, ...]) -> None:
        nonlocal best, evaluated, skipped, infeasible
        decided.add(node)
        if any(_below(node, bad) for bad in infeasible):
            skipped += 1
            return
        if best is not None and any(_below(low_node, node) and lb >= best.loss for low_node, lb in dm_bounds):
            skipped += 1
            return
        suppressed, cost, classes, total, supp_people, people, kept_sq, all_sq = evaluate(
            con, qis, node, k, unit == "people", min_l
        )
        evaluated += 1
        if unit == "people":
            feasible = people > 0 and supp_people <= suppression_limit * people
        else:
            feasible = total > 0 and suppressed <= suppression_limit * total
        if metric == "precision":
            cost = (total - suppressed) * bound[node] * q
        loss = (cost + suppressed * q) / (q * total) if total else 1.0
        if metric == "discernibility":
            loss = kept_sq + suppressed * total
            dm_bounds.append((node, all_sq))
        result = NodeResult(node, feasible, suppressed, loss, classes)
        trace.append(result)
        if not feasible:
            infeasible = [b for b in infeasible if not _below(b, node)] + [node]
        elif best is None or loss < best.loss - 1e-12:
            best = result

    if preferred is not None and preferred in bound:
        visit(preferred)
        if best is not None:
            seconds = time.perf_counter() - t0
            log.info("search: kept the preferred levels %s (still feasible) in %.2fs", preferred, seconds)
            return SearchResult(best, evaluated, skipped, len(nodes), seconds, trace, kept_preferred=True)
        log.info("search: the preferred levels %s no longer meet the limit; searching", preferred)

    # Two fronts, both exact: the lowest bound first finds good solutions and tightens the
    # stopping bound; the most general undecided node first finds infeasible nodes high up,
    # and monotonicity then rules out everything below them without evaluating it.
    low = high = 0
    while low < len(ascending):
        node = ascending[low]
        if best is not None and bound[node] >= best.loss - 1e-12:
            break  # every node left has a lower bound >= the best loss found
        low += 1
        if node not in decided:
            visit(node)
        while high < len(descending):
            node = descending[high]
            high += 1
            if node not in decided and (best is None or bound[node] < best.loss - 1e-12):
                visit(node)
                break
    seconds = time.perf_counter() - t0
    log.info(
        "search: %d of %d nodes evaluated (%d skipped as below an infeasible node) in %.2fs",
        evaluated, len(nodes), skipped, seconds,
    )  # fmt: skip
    return SearchResult(best, evaluated, skipped, len(nodes), seconds, trace)

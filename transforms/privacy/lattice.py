"""The exact search over the generalization lattice, knowing nothing of data or SQL.

A node is one level per quasi-identifier. The caller gives a lower bound of the objective for
every node (valid for the node and every node above it) and a function that evaluates a node
(feasible? objective?). The search returns the feasible node of least objective.

Exactness (branch and bound): the search stops when the lowest bound among unvisited nodes
reaches the best objective found, so the node returned is a true optimum. Feasibility is
monotone for the privacy models used (generalizing merges classes and can only shrink
suppression), so a node below a known infeasible node is skipped unevaluated. An evaluation
may also bound every node above it (`bound_above`, used by the discernibility metric). Visits
alternate between the lowest-bound node (tightens the stop) and the most general undecided
node (finds infeasible nodes high in the lattice, which rule out everything below them).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

Node = tuple[int, ...]
EPSILON = 1e-12


@dataclass
class Evaluation:
    """What evaluating one node found."""

    levels: Node
    feasible: bool
    suppressed_rows: int
    loss: float  # the objective (lower is better)
    classes: int
    #: A lower bound of the objective for every node above this one, if the metric gives one.
    bound_above: float | None = None
    #: False when the evaluator only bounded the node (suppression and objective are lower
    #: bounds): enough to prove it infeasible or not better than the best, never to choose it.
    exact: bool = True


@dataclass
class SearchResult:
    best: Evaluation | None
    evaluated: int
    skipped_by_monotonicity: int
    lattice_size: int
    seconds: float
    trace: list[Evaluation] = field(default_factory=list)
    kept_preferred: bool = False


def below(a: Node, b: Node) -> bool:
    """a is at or below b in every dimension."""
    return all(x <= y for x, y in zip(a, b, strict=True))


def nodes_of(ranges: list[tuple[int, int]]) -> list[Node]:
    return list(itertools.product(*(range(lo, hi + 1) for lo, hi in ranges)))


def search(
    ranges: list[tuple[int, int]],
    bound: dict[Node, float],
    evaluate: Callable[[Node, float | None], Evaluation],
    preferred: Node | None = None,
) -> SearchResult:
    """The feasible node of least objective within `ranges` (one (lowest, highest) level per attribute).

    `bound[n]` must not exceed the objective of n or of any node above n. `evaluate(node, best)`
    gets the best objective found so far (None before any) and may return a bound-only
    evaluation when that suffices. `preferred`: a node kept without searching if it is
    feasible (stable levels across nights).
    """
    t0 = time.perf_counter()
    nodes = nodes_of(ranges)
    ascending = sorted(nodes, key=lambda n: (bound[n], sum(n), n))
    descending = sorted(nodes, key=lambda n: (-sum(n), bound[n], n))
    best: Evaluation | None = None
    width = len(ranges)
    # Maximal known-infeasible nodes, and nodes whose evaluation bounds every node above them
    # (with that bound): one row per node, so a visit checks them all in one array operation.
    infeasible = np.zeros((0, width), dtype=np.int64)
    lows, low_bounds = np.zeros((0, width), dtype=np.int64), np.zeros(0)
    decided: set[Node] = set()
    evaluated = skipped = 0
    trace: list[Evaluation] = []

    def record(result: Evaluation) -> None:
        nonlocal best, infeasible, lows, low_bounds
        trace.append(result)
        node = np.asarray(result.levels, dtype=np.int64)
        if result.bound_above is not None:
            lows, low_bounds = np.vstack([lows, node]), np.append(low_bounds, result.bound_above)
        if not result.feasible:
            infeasible = np.vstack([infeasible[~(infeasible <= node).all(axis=1)], node])
        elif result.exact and (best is None or result.loss < best.loss - EPSILON):
            best = result

    def visit(node: Node) -> None:
        nonlocal evaluated, skipped
        decided.add(node)
        at = np.asarray(node, dtype=np.int64)
        if (at <= infeasible).all(axis=1).any():
            skipped += 1
            return
        if best is not None and ((lows <= at).all(axis=1) & (low_bounds >= best.loss)).any():
            skipped += 1
            return
        evaluated += 1
        record(evaluate(node, None if best is None else best.loss))

    if preferred is not None and preferred in bound:
        decided.add(preferred)
        evaluated += 1
        record(evaluate(preferred, None))
        if best is not None:
            seconds = time.perf_counter() - t0
            log.info("search: kept the preferred levels %s (still feasible) in %.2fs", preferred, seconds)
            return SearchResult(best, evaluated, skipped, len(nodes), seconds, trace, kept_preferred=True)
        log.info("search: the preferred levels %s no longer meet the limit; searching", preferred)

    low = high = 0
    while low < len(ascending):
        node = ascending[low]
        if best is not None and bound[node] >= best.loss - EPSILON:
            break  # every node left has a lower bound >= the best objective found
        low += 1
        if node not in decided:
            visit(node)
        while high < len(descending):
            node = descending[high]
            high += 1
            if node not in decided and (best is None or bound[node] < best.loss - EPSILON):
                visit(node)
                break
    seconds = time.perf_counter() - t0
    log.info(
        "search: %d of %d nodes evaluated (%d skipped as below an infeasible node) in %.2fs",
        evaluated,
        len(nodes),
        skipped,
        seconds,
    )
    return SearchResult(best, evaluated, skipped, len(nodes), seconds, trace)

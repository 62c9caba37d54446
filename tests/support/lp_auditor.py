"""An auditor for published audience tables, written apart from the engine (transforms/privacy/tables.py).

It plays the attacker: it knows every published cell, the margin structure and that measures
are non-negative. Two attackers, the second the stronger:

- `known_cells=False` (the default, the engine's model): it knows the domain of every
  dimension (the catalogue's titles, the countries, the age bands). Every cell of every margin
  over those domains that is not published is an unknown: suppressed or empty, the table does
  not say which.
- `known_cells=True`: it also knows which cells are empty (say from another
  source about who watched what): an empty cell is 0. Its ranges are inside the first
  attacker's, so a table that passes this audit passes the other; and its linear programs have
  only the suppressed cells as unknowns, which keeps them small enough to solve per cell on a
  title-level table. The engine does not promise this attacker anything (its certificates may
  move mass through empty cells), so a pass here is measured, not guaranteed. Neither attacker
  assumes that a suppressed cell holds at least one person (what a member of the cell knows).

For every suppressed cell it asks a linear program (scipy's HiGHS) how large the cell can be in
any table consistent with that knowledge, per measure:

- additive measures (plays, seconds, and people along dimensions a person has one value of):
  a margin cell equals the sum of its children along any dimension it lacks;
- people along other dimensions (a person watches several titles): a margin cell is at least
  each child and at most their sum.

A cell is protected when that upper end reaches its requirement (the threshold for people,
the largest contribution over the dominance share for a magnitude).

Cells are given as plain dicts: {"margin": tuple of dimension names, "key": tuple of values,
measure: value, ...}; nothing here imports the engine.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

LOWER = {"people": 0, "count": 0, "sum": 0}


def cells_from_plays(
    plays: list[dict], dims: list[str], margins: list[tuple[str, ...]], max_plays: int, max_seconds: int
):
    """Every cell of every margin from raw plays (person, dims..., seconds), with contributions
    clipped per person and finest cell; also the largest single contribution per cell."""
    finest = defaultdict(lambda: [0, 0])
    for p in plays:
        k = (p["person"], *(p[d] for d in dims))
        finest[k][0] += 1
        finest[k][1] += p["seconds"]
    per_person = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for (person, *values), (n, s) in finest.items():
        n, s = min(n, max_plays), min(s, max_seconds)
        row = dict(zip(dims, values, strict=True))
        for margin in margins:
            key = tuple(row[d] for d in margin)
            contribution = per_person[(margin, key)][person]
            contribution[0] += n
            contribution[1] += s
    cells = []
    for (margin, key), people in per_person.items():
        plays_by = [c[0] for c in people.values()]
        seconds_by = [c[1] for c in people.values()]
        cells.append(
            {
                "margin": margin,
                "key": key,
                "people": len(people),
                "plays": sum(plays_by),
                "seconds": sum(seconds_by),
                "top_plays": max(plays_by),
                "top_seconds": max(seconds_by),
            }
        )
    return cells


def upper_bounds(
    cells: list[dict],
    suppressed: set[tuple],
    margins: list[tuple[str, ...]],
    kinds: dict[str, str],
    people_additive: set[str],
    targets: set[tuple] | None = None,
    known_cells: bool = False,
) -> dict[tuple, dict[str, float]]:
    """For each suppressed cell (or each of `targets`), per measure: the largest value it can take."""
    dims = max(margins, key=len)
    domain = {d: sorted({c["key"][c["margin"].index(d)] for c in cells if d in c["margin"]}) for d in dims}
    grid = {(c["margin"], c["key"]): c for c in cells}
    if not known_cells:
        for margin in margins:  # every cell over the domains: absent ones are empty or suppressed
            for key in itertools.product(*(domain[d] for d in margin)):
                grid.setdefault((margin, key), {"margin": margin, "key": key, **dict.fromkeys(kinds, 0)})
    existing = {(c["margin"], c["key"]) for c in cells}
    published = {k for k in existing if k not in suppressed}
    cells = list(grid.values())
    ids = {(c["margin"], c["key"]): i for i, c in enumerate(cells)}
    var = {i: j for j, i in enumerate(sorted(ids[k] for k in ids if k not in published))}
    relations = []  # (parent id, [child ids], dimension summed over)
    for child_margin in margins:
        for d in child_margin:
            parent_margin = tuple(x for x in child_margin if x != d)
            if parent_margin not in margins:
                continue
            groups = defaultdict(list)
            for c in cells:
                if c["margin"] == child_margin:
                    parent_key = tuple(v for name, v in zip(child_margin, c["key"], strict=True) if name != d)
                    groups[parent_key].append(ids[(child_margin, c["key"])])
            for parent_key, children in groups.items():
                relations.append((ids[(parent_margin, parent_key)], children, d))
    out: dict[tuple, dict[str, float]] = {}
    wanted = suppressed if targets is None else targets
    for measure, kind in kinds.items():
        value = np.array([c[measure] for c in cells], dtype=float)
        eq, ub = _Rows(len(var)), _Rows(len(var))

        def terms(pairs, value=value):
            """(variable coefficients, constant) of sum(coef * cell)."""
            coefficients, constant = {}, 0.0
            for cell, coef in pairs:
                if cell in var:
                    coefficients[var[cell]] = coefficients.get(var[cell], 0.0) + coef
                else:
                    constant += coef * value[cell]
            return {j: c for j, c in coefficients.items() if c}, constant

        for parent, children, d in relations:
            coefficients, constant = terms([(parent, 1.0)] + [(ch, -1.0) for ch in children])
            if kind != "people" or d in people_additive:
                eq.add(coefficients, -constant)  # parent = sum(children)
                continue
            ub.add(coefficients, -constant)  # parent - sum(children) <= 0
            for ch in children:  # child - parent <= 0
                coefficients, constant = terms([(ch, 1.0), (parent, -1.0)])
                ub.add(coefficients, -constant)
        a_eq, b_eq = eq.matrix()
        a_ub, b_ub = ub.matrix()
        bounds = [(LOWER[kind], None)] * len(var)
        for key in sorted(wanted):
            target = var[ids[key]]
            objective = np.zeros(len(var))
            objective[target] = -1.0
            result = linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            if result.status == 3:
                high = float("inf")
            elif result.status != 0:
                raise AssertionError(f"the audit LP failed for {key} ({measure}): {result.message}")
            else:
                high = -result.fun
            out.setdefault(key, {})[measure] = high
    return out


class _Rows:
    """Constraint rows collected sparsely (tables of thousands of cells stay small)."""

    def __init__(self, width: int) -> None:
        self.width, self.data, self.rows, self.cols, self.rhs = width, [], [], [], []

    def add(self, coefficients: dict[int, float], rhs: float) -> None:
        if not coefficients:
            return
        for j, c in coefficients.items():
            self.rows.append(len(self.rhs))
            self.cols.append(j)
            self.data.append(c)
        self.rhs.append(rhs)

    def matrix(self):
        if not self.rhs:
            return None, None
        shape = (len(self.rhs), self.width)
        return sparse.csr_matrix((self.data, (self.rows, self.cols)), shape=shape), np.array(self.rhs)


def unprotected(
    cells: list[dict],
    suppressed: set[tuple],
    requirements: dict[tuple, dict[str, float]],
    margins: list[tuple[str, ...]],
    kinds: dict[str, str],
    people_additive: set[str],
    known_cells: bool = False,
) -> list[tuple]:
    """Suppressed cells whose derivable range stops short of a requirement: (cell, measure, high, need)."""
    highs = upper_bounds(cells, suppressed, margins, kinds, people_additive, set(requirements), known_cells)
    bad = []
    for key, needs in requirements.items():
        for measure, need in needs.items():
            if highs[key][measure] < need - 1e-6:
                bad.append((key, measure, highs[key][measure], need))
    return bad

"""Cell suppression for published tables of counts and magnitudes (audience tables).

A table is a set of *cells*: for each published margin (a set of dimensions: title, title and
country, ..., the grand total) one cell per combination of those dimensions' values present in
the data, with measures (distinct people, plays, seconds). A margin cell is the sum of its
children along any dimension it lacks (for distinct people only along dimensions a person has
one value of; otherwise it is at least each child and at most their sum).

Primary suppression (decided by the caller): cells with too few people, or dominated by one
person, each with a *requirement* per measure: the upper end of the range an attacker can
derive for the cell must reach at least that value (the threshold for people; the largest
contribution divided by the dominance share for a magnitude).

Secondary suppression (here): extra cells are suppressed until every primary cell is
*certified*: a move is found that changes suppressed cells only, keeps every published cell
and every relation, keeps every cell non-negative and raises the primary cell to its
requirement. The attacker modelled is tau-ARGUS's: it knows the published cells, the margin
relations, the domains of the dimensions and that measures are non-negative; it is not assumed
to know which unpublished cells are empty or that a suppressed cell holds at least one person
(docs/DESIGN.md says what that leaves open). The
table changed by the move is one the attacker cannot rule out, so the cell's upper bound is at
least that high: a certificate is sound whatever the attacker's linear programming does.

Two move families, as in tau-ARGUS's hypercube method (Repsilber's GHMITER) and generalized:
- pooling along one dimension d at a fixed position of the others: among the values of d
  whose whole chain of cells (every published margin containing d) is suppressed there, mass
  moves from all the others to one; margins without d keep their sums;
- rectangles over two dimensions d, e at a fixed position of the others: +/- on the four
  corners, all with their chains (margins containing both d and e) suppressed.
A primary cell with no certificate gets the cheapest extra suppressions (fewest people) that
give it one: more members for a pool, or the missing corners of a rectangle. Certificates are
computed in bulk (numpy over the cells; after the first round only for the cells escalated
last, and a final round over every cell), so the cost grows with the number of cells, not of
rows; the same cells give the same suppressions (fixed order, ties by code).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.privacy.frequency import expand
from transforms.privacy.heap import keep_freed_memory

log = logging.getLogger(__name__)

#: Measures the engine knows: their lower bound in any existing cell.
LOWER = {"people": 0, "count": 0, "sum": 0}


@dataclass
class Table:
    """All cells of every published margin (suppressed or not), with their measures."""

    dims: int
    margins: list[tuple[int, ...]]  # each margin as sorted dimension indexes
    margin: np.ndarray  # per cell: index into `margins`
    codes: np.ndarray  # (cells, dims): the value code of each dimension, -1 where the margin lacks it
    values: dict[str, np.ndarray]  # per measure: int64 per cell
    kinds: dict[str, str]  # per measure: people, count or sum
    people_additive: frozenset[int] = frozenset()  # dims along which distinct people add up
    _index: _Index | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        finest = tuple(range(self.dims))
        if finest not in self.margins:
            raise ValueError("the finest margin (every dimension) must be part of the table")

    def __len__(self) -> int:
        return len(self.margin)

    @property
    def index(self) -> _Index:
        if self._index is None:
            self._index = _Index.of(self)
        return self._index

    def additive(self, measure: str, dim: int) -> bool:
        return self.kinds[measure] != "people" or dim in self.people_additive

    def lower(self, measure: str) -> int:
        return LOWER[self.kinds[measure]]


@dataclass
class _Index:
    finest: np.ndarray  # cell ids of the finest margin
    proj: dict[int, np.ndarray]  # per margin: for each finest cell, its cell id in that margin
    parent: dict[tuple[int, int], int]  # (margin, dim) -> the margin without dim, when published

    @classmethod
    def of(cls, t: Table) -> _Index:
        full = t.margins.index(tuple(range(t.dims)))
        finest = np.flatnonzero(t.margin == full)
        radix = (t.codes.max(axis=0) + 2).astype(np.int64) if len(t) else np.ones(t.dims, dtype=np.int64)
        proj = {}
        for m, dims in enumerate(t.margins):
            cells = np.flatnonzero(t.margin == m)
            keys = _key(t.codes[cells], dims, radix)
            finest_keys = _key(t.codes[finest], dims, radix)
            where = pd.Index(keys).get_indexer(finest_keys)
            if (where < 0).any():
                raise ValueError(f"margin {dims} lacks cells that its finer cells imply")
            proj[m] = cells[where]
        parent = {}
        for m, dims in enumerate(t.margins):
            for d in dims:
                up = tuple(x for x in dims if x != d)
                if up in t.margins:
                    parent[(m, d)] = t.margins.index(up)
        return cls(finest, proj, parent)


def _key(codes: np.ndarray, dims: tuple[int, ...], radix: np.ndarray) -> np.ndarray:
    """One int64 id per row of `codes` over `dims` (mixed radix; a code of -1 counts as 0)."""
    return _key_of([codes[:, d] for d in dims], [radix[d] for d in dims], len(codes))


def _key_of(columns: list[np.ndarray], radices: list[int], n: int) -> np.ndarray:
    """`_key` from one code column per dimension (no codes matrix needed)."""
    key = np.zeros(n, dtype=np.int64)
    for column, r in zip(columns, radices, strict=True):
        key = key * r + column + 1
    return key


@dataclass
class Decision:
    suppressed: np.ndarray  # per cell
    primary: np.ndarray
    secondary: np.ndarray
    certified: np.ndarray  # per cell: a primary cell with a certificate (all must be)
    upper: dict[str, np.ndarray]  # per measure: the certified upper bound per cell (lower bound of the real one)
    rounds: int


def protect(t: Table, need: dict[str, np.ndarray], max_rounds: int = 200) -> Decision:
    """Suppress the primary cells (any requirement > 0) and enough others to certify them all.

    Each round certifies the suppressed cells in bulk (the first and the last round every cell,
    the others the cells escalated last), then escalates each cell still failing one step up a
    ladder of extra suppressions (see `_escalate`); a cell's step only grows, so
    the loop ends: at worst every cell is suppressed, and a table with nothing published
    reveals nothing. Same cells in, same suppressions out (fixed order, ties by code)."""
    keep_freed_memory()  # its rounds' temporary arrays reuse memory (heap.py)
    primary = np.zeros(len(t), dtype=bool)
    for q in need.values():
        primary |= q > 0
    suppressed = primary.copy()
    step = np.zeros(len(t), dtype=np.int64)
    rounds = 0
    pending: np.ndarray | None = None  # the cells last escalated: the only ones that can fail now
    upper: dict[str, np.ndarray] = {}

    def check(focus: np.ndarray | None) -> np.ndarray:
        """Certify (every cell, or only `focus`), then the exact reach of the cells still failing."""
        fresh = certify(t, suppressed, focus)
        if focus is None:
            upper.update(fresh)
        else:
            for m in fresh:
                upper[m][focus] = fresh[m][focus]
        failing = _failing(primary, need, upper)
        if len(failing):
            _exact_reach(t, suppressed, need, failing, upper)
            failing = _failing(primary, need, upper)
        return failing

    while True:
        rounds += 1
        if suppressed.all():
            upper = {m: np.full(len(t), np.inf) for m in t.values}
            failing = np.zeros(0, dtype=np.int64)
            break
        # A move that certifies a cell only changes suppressed cells, so it stays valid as more
        # are suppressed: after the first round only the cells escalated last can still fail,
        # and certifying them alone (`focus`) gives the values a full round would. A round that
        # finds them all certified is confirmed by a full one, which ends the loop: the table is
        # always released on a certification of every cell.
        failing = check(pending)
        if pending is not None and not len(failing):
            failing = check(None)
        log.info(
            "cell suppression round %d: %d suppressed, %d primary not yet protected",
            rounds,
            suppressed.sum(),
            len(failing),
        )
        if not len(failing):
            break
        if rounds > max_rounds:
            raise RuntimeError(f"cell suppression did not converge in {max_rounds} rounds ({len(failing)} cells left)")
        _escalate(t, suppressed, need, failing, step)
        step[failing] += 1
        pending = failing
    return Decision(suppressed, primary, suppressed & ~primary, primary.copy(), upper, rounds)


#: Linear programs per round for cells the certificates miss. Each is one HiGHS solve over the
#: suppressed cells, and a solve's time grows about with the square of its unknowns, so the
#: budget is LP_WORK // suppressed cells ** 2 per round for cells of the key dimension: about
#: 65 on a night of a few thousand plays (5,500 unknowns, milliseconds a solve), none on a
#: title-level night of 100,000 plays or more (70,000 unknowns, about 0.5 s a solve), where
#: the failing cells escalate instead (measured there: 20 s for 5% more plays visible). Cells
#: without the key (totals per country, per age band) always get their solve: their escalation
#: suppresses whole slices. A count, not a clock: the same cells give the same suppressions on
#: any machine.
LP_WORK = 2_000_000_000


def _exact_reach(
    t: Table, suppressed: np.ndarray, need: dict[str, np.ndarray], failing: np.ndarray, upper: dict[str, np.ndarray]
) -> None:
    """For a few failing cells, the exact reach by linear programming: the largest value the
    cell takes in a non-negative table that keeps every published cell and every margin
    relation (sums where a measure adds up; for distinct people along a dimension where it
    does not, a parent at least each child and at most their sum). Cells absent from the
    table are held at zero, so the reach is never above what an attacker can derive.

    Cells without the key dimension (totals per country, per age band) go first: their
    certificates need moves across many positions at once, which the move families above do
    not combine."""
    from scipy.optimize import linprog

    keyless = [y for y in failing.tolist() if 0 not in t.margins[t.margin[y]]]
    budget = len(keyless) + LP_WORK // max(1, int(suppressed.sum())) ** 2
    order = sorted(failing.tolist(), key=lambda y: (0 in t.margins[t.margin[y]], t.margin[y], y))[:budget]
    if not order:
        return
    system = _relations(t)
    for measure, q in need.items():
        rows = [y for y in order if q[y] > 0 and upper[measure][y] < q[y]]
        if not rows:
            continue
        a_eq, a_ub = system[measure]
        free = np.flatnonzero(suppressed)
        column = {c: i for i, c in enumerate(free)}
        fixed = np.where(suppressed, 0.0, t.values[measure].astype(np.float64))
        eq_var, eq_rhs = a_eq[:, free], -(a_eq @ fixed)
        ub_var, ub_rhs = a_ub[:, free], -(a_ub @ fixed)
        keep_eq = np.asarray(abs(eq_var).sum(axis=1)).ravel() > 0
        keep_ub = np.asarray(abs(ub_var).sum(axis=1)).ravel() > 0
        args = {
            "A_eq": eq_var[keep_eq] if keep_eq.any() else None,
            "b_eq": eq_rhs[keep_eq] if keep_eq.any() else None,
            "A_ub": ub_var[keep_ub] if keep_ub.any() else None,
            "b_ub": ub_rhs[keep_ub] if keep_ub.any() else None,
        }
        for y in rows:
            objective = np.zeros(len(free))
            objective[column[y]] = -1.0
            result = linprog(objective, bounds=(t.lower(measure), None), method="highs", **args)
            if result.status == 3:
                upper[measure][y] = np.inf
            elif result.status == 0:
                upper[measure][y] = max(upper[measure][y], -result.fun - 1e-6)


def _relations(t: Table):
    """Per measure, the margin relations as sparse rows over all cells: (equalities, inequalities <= 0)."""
    cache = t.__dict__.setdefault("_relations", {})
    if cache:
        return cache
    from scipy import sparse

    radix = (t.codes.max(axis=0) + 2).astype(np.int64) if len(t) else np.ones(t.dims, dtype=np.int64)
    everything = tuple(range(t.dims))
    links = []  # (child cells, parent cells, dimension)
    for m, dims in enumerate(t.margins):
        for d in dims:
            up = tuple(x for x in dims if x != d)
            if up not in t.margins:
                continue
            children = np.flatnonzero(t.margin == m)
            parents = np.flatnonzero(t.margin == t.margins.index(up))
            lifted = t.codes[children].copy()
            lifted[:, d] = -1
            where = pd.Index(_key(t.codes[parents], everything, radix)).get_indexer(_key(lifted, everything, radix))
            ok = where >= 0
            links.append((children[ok], parents[where[ok]], d))
    n = len(t)
    for measure in t.values:
        eq_r, eq_c, eq_v, ub_r, ub_c, ub_v = [], [], [], [], [], []
        n_eq = n_ub = 0
        for children, parents, d in links:
            groups, first = pd.factorize(parents)
            if t.additive(measure, d):
                eq_r += [groups + n_eq, np.arange(len(first)) + n_eq]
                eq_c += [children, first]
                eq_v += [-np.ones(len(children)), np.ones(len(first))]
                n_eq += len(first)
            else:
                ub_r += [groups + n_ub, np.arange(len(first)) + n_ub]  # parent - sum(children) <= 0
                ub_c += [children, first]
                ub_v += [-np.ones(len(children)), np.ones(len(first))]
                n_ub += len(first)
                rows = np.arange(len(children)) + n_ub  # child - parent <= 0
                ub_r += [rows, rows]
                ub_c += [children, parents]
                ub_v += [np.ones(len(children)), -np.ones(len(children))]
                n_ub += len(children)

        def matrix(r, c, v, height):
            if not r:
                return sparse.csr_matrix((0, n))
            return sparse.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(height, n))

        cache[measure] = (matrix(eq_r, eq_c, eq_v, n_eq), matrix(ub_r, ub_c, ub_v, n_ub))
    return cache


def _failing(primary: np.ndarray, need: dict[str, np.ndarray], upper: dict[str, np.ndarray]) -> np.ndarray:
    bad = np.zeros(len(primary), dtype=bool)
    for measure, q in need.items():
        bad |= primary & (q > 0) & (upper[measure] < q)
    return np.flatnonzero(bad)


# --- certificates ---------------------------------------------------------------------------------


def certify(t: Table, suppressed: np.ndarray, focus: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per measure and cell, a value the cell can take in a table the attacker cannot rule out
    (at least its own value; more for suppressed cells that a move can raise).

    With `focus` (cell ids), only those cells' values are wanted: each move family then looks
    only at the cells a focus cell's moves can involve (`_Scope`), and its values for the focus
    cells are exactly those of a certification of every cell. Other cells get lower values
    (moves are skipped, never invented), so every value returned is still a certificate."""
    scope = None if focus is None else _Scope.of(t, focus)
    upper = {m: v.astype(np.float64) for m, v in t.values.items()}
    for d in range(t.dims):
        for m, gain in _pool_gains(t, suppressed, d).items():
            np.maximum(upper[m], t.values[m] + gain, out=upper[m])
    for d, e in itertools.combinations(range(t.dims), 2):
        for m, gain in _rectangle_gains(t, suppressed, d, e, scope).items():
            np.maximum(upper[m], t.values[m] + gain, out=upper[m])
    for d, e in itertools.permutations(range(t.dims), 2):
        for m, gain in _cross_gains(t, suppressed, d, e, scope).items():
            np.maximum(upper[m], t.values[m] + gain, out=upper[m])
    for m, gain in _block_gains(t, suppressed, scope).items():
        np.maximum(upper[m], t.values[m] + gain, out=upper[m])
    for m, gain in _free_people_gains(t, suppressed).items():
        np.maximum(upper[m], t.values[m] + gain, out=upper[m])
    for m in upper:
        upper[m][~suppressed] = t.values[m][~suppressed]
    return upper


@dataclass
class _Scope:
    """The finest cells under the focus cells of a certification, and what their moves reach.

    A move family's gain for a finest cell x depends only on cells that share x's codes on
    every dimension the family does not move: the rectangles, pool-assisted swaps and
    sub-rectangles over (d, e) stay at x's position without d and e (`near`); the trades of
    `_block_gains` stay in x's block, with the reservoir (a sum over all blocks, still taken
    whole). A margin cell's gain is the best of its finest cells' (`_spread`). So a family
    that keeps the finest cells near the focus ones computes their gains, and the focus
    cells', exactly as it would over the whole table."""

    rows: np.ndarray  # per finest cell: under a focus cell
    blocks: np.ndarray  # per finest cell: in a block (key value) that holds such a cell

    @classmethod
    def of(cls, t: Table, focus: np.ndarray) -> _Scope:
        idx = t.index
        wanted = np.zeros(len(t), dtype=bool)
        wanted[focus] = True
        rows = np.zeros(len(idx.finest), dtype=bool)
        for m in range(len(t.margins)):
            rows |= wanted[idx.proj[m]]
        block = t.codes[idx.finest, 0]
        hit = np.zeros(int(block.max()) + 1 if len(block) else 1, dtype=bool)
        hit[block[rows]] = True
        return cls(rows, hit[block])

    def near(self, t: Table, moved: tuple[int, ...]) -> np.ndarray:
        """Per finest cell: it shares its codes outside `moved` with a cell under a focus cell."""
        pos = _position(t, moved)
        hit = np.zeros(int(pos.max()) + 1 if len(pos) else 1, dtype=bool)
        hit[pos[self.rows]] = True
        return hit[pos]


def _chain(t: Table, suppressed: np.ndarray, dims: set[int]) -> tuple[list[int], np.ndarray]:
    """Margins containing every dim in `dims`, and per finest cell: is its chain there all suppressed?"""
    idx = t.index
    chain = [m for m, ms in enumerate(t.margins) if dims <= set(ms)]
    member = np.ones(len(idx.finest), dtype=bool)
    for m in chain:
        member &= suppressed[idx.proj[m]]
    return chain, member


def _position(t: Table, free: tuple[int, ...]) -> np.ndarray:
    """Per finest cell: an id of its codes on every dimension but `free` (cached)."""
    cache = t.__dict__.setdefault("_positions", {})
    if free not in cache:
        idx = t.index
        keep = tuple(d for d in range(t.dims) if d not in free)
        radix = (t.codes.max(axis=0) + 2).astype(np.int64)
        cache[free] = pd.factorize(_key(t.codes[idx.finest], keep, radix))[0].astype(np.int64)
    return cache[free]


def _people_cap(t: Table, measure: str, chain: list[int], moved: int, rows: np.ndarray) -> np.ndarray:
    """For a people measure: how far the chain cells of finest cells `rows`, raised by a move
    along `moved`, can go up before one exceeds its parent without that dimension (distinct
    people do not add up along it: a parent holds at least each child, not their sum)."""
    idx = t.index
    cap = np.full(len(rows), np.inf)
    if t.additive(measure, moved):
        return cap
    values = t.values[measure]
    for m in chain:
        up = idx.parent.get((m, moved))
        if up is None:
            continue
        np.minimum(cap, values[idx.proj[up][rows]] - values[idx.proj[m][rows]], out=cap)
    return cap


def _spread(t: Table, chain: list[int], gain_finest: np.ndarray) -> np.ndarray:
    """For every cell of the chain margins: the best gain over its finest descendants (a move
    raising a finest cell raises its whole chain by as much)."""
    idx = t.index
    best = np.zeros(len(t))
    for m in chain:
        np.maximum.at(best, idx.proj[m], gain_finest)
    return best


def _pool_gains(t: Table, suppressed: np.ndarray, d: int) -> dict[str, np.ndarray]:
    idx = t.index
    chain, member = _chain(t, suppressed, {d})
    if not member.any():
        return {}
    pos = _position(t, (d,))
    out = {}
    for m, values in t.values.items():
        cap = np.where(member, values[idx.finest] - t.lower(m), 0).astype(np.float64)
        pool = np.bincount(pos, weights=cap, minlength=int(pos.max()) + 1)
        gain = np.where(member, pool[pos] - cap, 0.0)
        if t.kinds[m] == "people":
            gain = np.minimum(gain, _people_cap(t, m, chain, d, np.arange(len(idx.finest))))
        out[m] = _spread(t, chain, np.maximum(gain, 0.0))
    return out


def _rectangle_gains(
    t: Table, suppressed: np.ndarray, d: int, e: int, scope: _Scope | None = None
) -> dict[str, np.ndarray]:
    """Rectangles over (d, e): for a finest cell x = (d0, e0) at position q, partners d1, e1 with
    (d1, e0), (d0, e1), (d1, e1) all chain members at q; x goes up by min(cap(d1, e0), cap(d0, e1)).
    For each (q, e0, e1) the best d1 is the one with the largest cap at (d1, e0) among the values
    of d holding both e0 and e1 (the top two, to skip x's own d0). Measures of distinct people
    use rectangles only where people add up along both d and e."""
    idx = t.index
    chain, member = _chain(t, suppressed, {d, e})
    if scope is not None:
        member = member & scope.near(t, (d, e))
    if member.sum() < 4:
        return {}
    rows = np.flatnonzero(member)
    codes = t.codes[idx.finest[rows]]
    q = _position(t, (d, e))[rows]
    dv, ev = codes[:, d], codes[:, e]
    radix = int(max(dv.max(), ev.max())) + 2
    line = pd.factorize(q * radix + dv)[0]  # (q, d0): the e values held there
    r0, r1 = _self_pairs(line)
    differ = ev[r0] != ev[r1]
    r0, r1 = r0[differ], r1[differ]
    if not len(r0):
        return {}
    key, _ = pd.factorize((q[r0] * radix + ev[r0]) * radix + ev[r1])
    n = int(key.max()) + 1
    d0 = dv[r0]
    grouped = (np.argsort(key, kind="stable"), key, n)  # the pairs by key, once for every measure
    out = {}
    for m, values in t.values.items():
        if t.kinds[m] == "people" and not (t.additive(m, d) and t.additive(m, e)):
            continue
        cap = (values[idx.finest[rows]] - t.lower(m)).astype(np.float64)
        c0 = cap[r0]
        top1, top1_d, top2 = _top_two_of(grouped, c0, d0)
        other = np.where(top1_d[key] == d0, top2[key], top1[key])
        gain = np.where(other >= 0, np.minimum(cap[r1], other), 0.0)
        best = np.zeros(len(idx.finest))
        np.maximum.at(best, rows[r0], np.maximum(gain, 0.0))
        out[m] = _spread(t, chain, best)
    return out


def _cross_gains(
    t: Table, suppressed: np.ndarray, d: int, e: int, scope: _Scope | None = None
) -> dict[str, np.ndarray]:
    """A pool-assisted swap: x = (d0, e0) at position q goes up and x' = (d0, e1) down by the same
    amount, so d0's margins without e keep their sums; the margins without d (which now miss
    that amount at e0 and have it in excess at e1) are made whole by the pool along d: members
    at (e0, q) go down, one member at (e1, q) goes up. Needs x's and x''s chains over margins
    holding both d and e suppressed, and the members' chains over margins holding d."""
    idx = t.index
    chain_de, pair_member = _chain(t, suppressed, {d, e})
    if scope is not None:  # x and x' (the pairs); the pool along d stays whole
        pair_member = pair_member & scope.near(t, (d, e))
    chain_d, member = _chain(t, suppressed, {d})
    if not pair_member.any() or not member.any():
        return {}
    pos = _position(t, (d,))  # (e, q): where the pool along d lives
    line_pos = _position(t, (e,))  # (d0, q): x and x' share it
    n_pos = int(pos.max()) + 1
    members_at = np.bincount(pos, weights=member.astype(np.float64), minlength=n_pos)
    rows = np.flatnonzero(pair_member)
    i, j = _self_pairs(line_pos[rows])
    if not len(i):
        return {}
    x, x1 = rows[i], rows[j]
    # The increase side needs a member at (e1, q) other than d0 itself.
    others_up = members_at[pos[x1]] - member[x1]
    out = {}
    for m, values in t.values.items():
        cap = (values[idx.finest] - t.lower(m)).astype(np.float64)
        pool = np.bincount(pos, weights=np.where(member, cap, 0.0), minlength=n_pos)
        down = pool[pos[x]] - np.where(member[x], cap[x], 0.0)  # the pool at (e0, q) without d0
        gain = np.where(others_up > 0, np.minimum(cap[x1], down), 0.0)
        if t.kinds[m] == "people":
            if not t.additive(m, e):
                continue
            # Room above x's chain, and above the best member's chain at (e1, q) (not d0's own).
            gain = np.minimum(gain, _people_cap(t, m, chain_de, d, x))
            room = np.where(member, _people_cap(t, m, chain_d, d, np.arange(len(idx.finest))), -np.inf)
            first, second = _top_two(pos, room, n_pos)
            best_room = np.where(member[x1] & (room[x1] >= first[pos[x1]]), second[pos[x1]], first[pos[x1]])
            gain = np.minimum(gain, best_room)
        best = np.zeros(len(idx.finest))
        np.maximum.at(best, x, np.maximum(gain, 0.0))
        out[m] = _spread(t, chain_de, best)
    return out


def _free_people_gains(t: Table, suppressed: np.ndarray) -> dict[str, np.ndarray]:
    """Distinct people where they do not add up along the key (a person watches several
    titles): a finest cell x whose cells in its block (every margin with the key, over x) are
    all suppressed can rise by g together with all of them. Inside the block each relation
    gains g on both sides; towards the margins without the key, a parent only has to stay at
    least each child (and at most their sum, which grows), so g is bounded by the room under
    each published parent along the key."""
    if not len(t) or not t.dims:
        return {}
    idx = t.index
    key_margins = [m for m, ms in enumerate(t.margins) if 0 in ms]
    full = np.ones(len(idx.finest), dtype=bool)
    for m in key_margins:
        full &= suppressed[idx.proj[m]]
    if not full.any():
        return {}
    out = {}
    for measure, values in t.values.items():
        if t.kinds[measure] != "people" or t.additive(measure, 0):
            continue
        room = np.where(full, np.inf, 0.0)
        for m in key_margins:
            up = idx.parent.get((m, 0))
            if up is None:
                continue
            np.minimum(room, (values[idx.proj[up]] - values[idx.proj[m]]).astype(np.float64), out=room)
        room = np.where(full, np.maximum(room, 0.0), 0.0)
        room[np.isinf(room)] = 1e18  # no published parent along the key: nothing bounds the rise
        best = np.zeros(len(t))
        for m in key_margins:
            np.maximum.at(best, idx.proj[m], room)
        out[measure] = best
    return out


def _block_gains(t: Table, suppressed: np.ndarray, scope: _Scope | None = None) -> dict[str, np.ndarray]:
    """Moves inside one value of the first (key) dimension, a *block* (one title's cells),
    with the *reservoir* absorbing the difference in the margins without the key.

    The reservoir is the set of key values whose every cell is suppressed (the small titles):
    lowering or raising them at one position of the other dimensions changes only suppressed
    cells. So any change of a block's finest cells that keeps the block's published cells is a
    table the attacker cannot rule out, as long as the reservoir at each position can give back
    what the block takes there. Two families:
    - trades within a *group*: for a set D of the other dimensions, the finest cells of a block
      that agree on every dimension outside D. A cell is *D-open* when its block cells over
      margins holding a dimension of D are all suppressed; open cells of one group trade
      (some up, others down by as much), touching only those cells: the block's other cells
      (which they share) keep their sums. A cell y goes up by what the open cells under it can
      take from the reservoir, up to what the open cells of the group outside y can give,
      summed over the groups through y;
    - from the reservoir alone, for cells whose whole chain in the block is suppressed.
    Distinct people: only where they add up along every dimension but the key, and no block
    cell may pass a published parent along the key (a person watches several titles)."""
    if t.dims < 2:
        return {}
    idx = t.index
    key_margins = [m for m, ms in enumerate(t.margins) if 0 in ms]
    finest = idx.finest
    full = np.ones(len(finest), dtype=bool)
    for m in key_margins:
        full &= suppressed[idx.proj[m]]
    block = t.codes[finest, 0]
    n_blocks = int(block.max()) + 1
    member = np.bincount(block, weights=~full, minlength=n_blocks) == 0
    in_reservoir = member[block]
    present = np.bincount(block, minlength=n_blocks) > 0
    # Trades need another reservoir value to take back what a block gives up (at any position:
    # a cell absent from the table may be a suppressed one, so it can rise from zero).
    others = int((member & present).sum()) - np.where(member, 1, 0)
    pos = _position(t, (0,))
    n_pos = int(pos.max()) + 1
    sub = tuple(range(1, t.dims))
    groups = []
    for size in range(1, len(sub) + 1):
        for dset in itertools.combinations(sub, size):
            opened = np.ones(len(finest), dtype=bool)
            for m in key_margins:
                if set(t.margins[m]) & set(dset):
                    opened &= suppressed[idx.proj[m]]
            if opened.any():
                groups.append((dset, opened, _position(t, dset)))
    out = {}
    for measure, values in t.values.items():
        if t.kinds[measure] == "people" and not all(d in t.people_additive for d in sub):
            continue
        v = values[finest].astype(np.float64)
        reservoir = np.bincount(pos, weights=np.where(in_reservoir, v, 0.0), minlength=n_pos)
        give = reservoir[pos] - np.where(in_reservoir, v, 0.0)  # what the reservoir can give at x
        gain = np.zeros(len(t))
        for m in key_margins:
            cells = idx.proj[m]
            free = np.bincount(cells, weights=np.where(full, give, 0.0), minlength=len(t))
            np.maximum(gain, free, out=gain)
            for dset, opened, group in groups:
                opened = opened & (others[block] > 0)
                if scope is not None:  # trades stay in a block
                    opened = opened & scope.blocks
                if not set(t.margins[m]) & set(dset):
                    continue  # the group's cells all share this margin's cell: no trade moves it
                if set(dset) <= set(t.margins[m]) and len(t.margins[m]) < t.dims:
                    np.maximum(gain, _trade_into(t, m, dset, opened, group, v, reservoir, in_reservoir), out=gain)
                    continue
                rows = np.flatnonzero(opened)
                n_groups = int(group.max()) + 1
                mass = np.bincount(group[rows], weights=v[rows], minlength=n_groups)
                inverse, first = pd.factorize(cells[rows] * np.int64(n_groups) + group[rows])
                n_pairs = len(first)
                pair_cell, pair_group = first // n_groups, first % n_groups
                up = np.bincount(inverse, weights=give[rows], minlength=n_pairs)
                under = np.bincount(inverse, weights=v[rows], minlength=n_pairs)
                per_pair = np.maximum(np.minimum(up, mass[pair_group] - under), 0.0)
                total = np.bincount(pair_cell, weights=per_pair, minlength=len(t))
                np.maximum(gain, total, out=gain)
        for dims_m in t.margins:
            if len(dims_m) == t.dims:
                np.maximum(gain, _subrectangle_gains(t, suppressed, v, scope), out=gain)
        if t.kinds[measure] == "people":
            gain = np.minimum(gain, _block_people_cap(t, measure)[np.maximum(t.codes[:, 0], 0)])
            gain[t.codes[:, 0] < 0] = 0.0
        out[measure] = np.maximum(gain, 0.0)
    return out


def _trade_into(t, m, dset, opened, group, v, reservoir, in_reservoir) -> np.ndarray:
    """Trades for the cells y of margin m when m holds every dimension of the group's set D:
    in each group of y's block that agrees with y outside D, the cell x under y is fixed (y's
    values on D, the group's elsewhere), present or not (an absent cell may rise from zero);
    y goes up by what the reservoir gives at x, up to what the group's other open cells hold."""
    idx = t.index
    finest = idx.finest
    dims_m = t.margins[m]
    radix, finest_keys, sub_keys, first_at = _finest_lookup(t)
    rows = np.flatnonzero(opened)
    n_groups = int(group.max()) + 1
    mass = np.bincount(group[rows], weights=v[rows], minlength=n_groups)
    # one representative finest cell per group: its codes outside D
    first = np.full(n_groups, -1, dtype=np.int64)
    first[group[rows][::-1]] = rows[::-1]
    live = np.flatnonzero(first >= 0)
    g_codes = t.codes[finest[first[live]]]
    join = tuple(d for d in dims_m if d not in dset)
    targets = np.flatnonzero(t.margin == m)
    at_y, r = _join(_key(t.codes[targets], join, radix), _key(g_codes, join, radix))
    if not len(at_y):
        return np.zeros(len(t))
    y, g = targets[at_y], live[r]
    # x's codes: y's on D, the group's elsewhere (column by column: no codes matrix per pair).
    x = [t.codes[y, d] if d in dset else g_codes[r, d] for d in range(t.dims)]
    at = finest_keys.get_indexer(_key_of(x, list(radix), len(y)))
    sub_key = _key_of(x[1:], list(radix[1:]), len(y))
    exists = at >= 0
    pos = _position(t, (0,))
    where = sub_keys.get_indexer(sub_key)
    seen = where >= 0
    reservoir_at = np.zeros(len(at))
    reservoir_at[seen] = reservoir[pos[first_at[where[seen]]]]
    own = np.where(exists, v[np.maximum(at, 0)], 0.0)
    give = reservoir_at - np.where(exists & in_reservoir[np.maximum(at, 0)], own, 0.0)
    valid = ~exists | opened[np.maximum(at, 0)]
    per_pair = np.where(valid, np.maximum(np.minimum(give, mass[g] - np.where(exists, own, 0.0)), 0.0), 0.0)
    return np.bincount(y, weights=per_pair, minlength=len(t))


def _finest_lookup(t: Table):
    """(radix, finest cells by all their codes, distinct positions without the key, the first
    finest cell at each): fixed for a table, so built once (cached)."""
    cache = t.__dict__
    if "_finest_lookup" not in cache:
        finest = t.index.finest
        radix = (t.codes.max(axis=0) + 2).astype(np.int64)
        finest_keys = pd.Index(_key(t.codes[finest], tuple(range(t.dims)), radix))
        sub_keys, first_at = np.unique(_key(t.codes[finest], tuple(range(1, t.dims)), radix), return_index=True)
        cache["_finest_lookup"] = (radix, finest_keys, pd.Index(sub_keys), first_at)
    return cache["_finest_lookup"]


def _subrectangle_gains(t: Table, suppressed: np.ndarray, v: np.ndarray, scope: _Scope | None = None) -> np.ndarray:
    """Sub-rectangles in the finest margin over two dimensions d, e that no other published
    margin holds together (age band and country within a title): x = (d0, e0) goes up by what
    its suppressed line-mates along e give up (a set E of e values) and its suppressed mates
    along d give up (a set D), when no cell of D x E is published: those rise (from zero when
    absent), so every margin keeps its sums. Gain: the smaller of the two sums."""
    idx = t.index
    gain = np.zeros(len(t))
    finest = idx.finest
    supp = suppressed[finest]
    for x, mate, row, fits in _subrectangle_pairs(t, suppressed, scope):
        line_mass = np.bincount(row, weights=np.where(supp, v, 0.0))
        down = np.bincount(x[fits], weights=v[mate[fits]], minlength=len(finest))
        g = np.where(supp, np.minimum(line_mass[row] - v, down), 0.0)
        np.maximum.at(gain, finest, g)
    return gain


def _subrectangle_pairs(t: Table, suppressed: np.ndarray, scope: _Scope | None = None) -> list:
    """The (x, mate) pairs of `_subrectangle_gains`, per orientation (cached per suppression
    and scope)."""
    cache = t.__dict__.setdefault("_subrectangles", {})
    fingerprint = hash((suppressed.tobytes(), None if scope is None else scope.rows.tobytes()))
    if fingerprint in cache:
        return cache[fingerprint]
    cache.clear()
    idx = t.index
    finest = idx.finest
    supp = suppressed[finest]
    out = []
    for d, e in itertools.combinations(range(t.dims), 2):
        if any({d, e} <= set(ms) for ms in t.margins if len(ms) < t.dims):
            continue
        for a, b in ((d, e), (e, d)):
            codes_b = t.codes[finest, b]
            if codes_b.max() >= 62:
                continue
            bit = np.left_shift(np.int64(1), codes_b.astype(np.int64))
            row = _position(t, (b,))  # cells sharing everything but b: a line along b
            n_rows = int(row.max()) + 1
            held = np.zeros(n_rows, dtype=np.int64)
            np.bitwise_or.at(held, row[supp], bit[supp])
            published = np.zeros(n_rows, dtype=np.int64)
            np.bitwise_or.at(published, row[~supp], bit[~supp])
            # For x: E = the other suppressed cells of its line along b; D = the suppressed
            # cells along a (same b value) whose line along b has nothing published in E.
            col = _position(t, (a,))  # cells sharing everything but a
            rows = np.flatnonzero(supp if scope is None else supp & scope.near(t, (d, e)))
            i, j = _self_pairs(col[rows])
            if not len(i):
                continue
            x, mate = rows[i], rows[j]
            fits = (published[row[mate]] & held[row[x]] & ~bit[x]) == 0
            out.append((x, mate, row, fits))
    cache[fingerprint] = out
    return out


def _join(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with left[i] == right[j] (an inner join on int64 keys, in numpy)."""
    order = np.argsort(right, kind="stable")
    ordered = right[order]
    lo = np.searchsorted(ordered, left, side="left")
    i, within = expand(np.searchsorted(ordered, left, side="right") - lo)
    return i, order[lo[i] + within]


def _self_pairs(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (i, j), i != j, of positions with the same group id (a self-join)."""
    i, j = _join(group, group)
    keep = i != j
    return i[keep], j[keep]


def _block_people_cap(t: Table, measure: str) -> np.ndarray:
    """Per block: the least room any of its cells has below a published parent along the key
    (fixed for a table: cached per measure)."""
    cache = t.__dict__.setdefault("_block_people_caps", {})
    if measure not in cache:
        cache[measure] = _block_room(t, t.values[measure])
    return cache[measure]


def _block_room(t: Table, values: np.ndarray) -> np.ndarray:
    idx = t.index
    n_blocks = int(t.codes[:, 0].max()) + 1
    cap = np.full(n_blocks, np.inf)
    for m, _ms in enumerate(t.margins):
        up = idx.parent.get((m, 0))
        if up is None:
            continue
        rows = np.unique(idx.proj[m])
        room = values[idx.proj[up][_first_finest(idx.proj[m])[rows]]] - values[rows]
        np.minimum.at(cap, t.codes[rows, 0], room.astype(np.float64))
    return cap


def _first_finest(proj: np.ndarray) -> np.ndarray:
    """For every cell id: one finest position under it (-1 where none)."""
    first = np.full(int(proj.max()) + 1, -1, dtype=np.int64)
    first[proj[::-1]] = np.arange(len(proj))[::-1]
    return first


def _top_two_of(grouped: tuple[np.ndarray, np.ndarray, int], value: np.ndarray, label: np.ndarray):
    """Per group: the largest value, the label it has (the smallest label among equal largest
    values), and the largest value of the group's other members (-1 when absent). Labels are
    distinct within a group; values are >= 0. `grouped`: (members ordered by group, each
    member's group, number of groups)."""
    order, group, n = grouped
    top1 = np.full(n, -1.0)
    top1_d = np.full(n, -1, dtype=np.int64)
    top2 = np.full(n, -1.0)
    if not len(order):
        return top1, top1_d, top2
    g, v, lab = group[order], value[order], label[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    at = g[starts]
    best = np.maximum.reduceat(v, starts)
    top1[at] = best
    is_best = v == np.repeat(best, np.diff(np.r_[starts, len(g)]))
    big = np.iinfo(np.int64).max
    top1_d[at] = np.minimum.reduceat(np.where(is_best, lab, big), starts)
    chosen = lab == np.repeat(top1_d[at], np.diff(np.r_[starts, len(g)]))
    top2[at] = np.maximum.reduceat(np.where(chosen, -1.0, v), starts)
    return top1, top1_d, top2


def _top_two(group: np.ndarray, value: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the largest and second largest value (-inf when absent)."""
    order = np.lexsort((-value, group))
    g = group[order]
    first_of = np.r_[True, g[1:] != g[:-1]]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(first_of, np.arange(len(order)), 0))
    first = np.full(n, -np.inf)
    second = np.full(n, -np.inf)
    first[g[rank == 0]] = value[order[rank == 0]]
    second[g[rank == 1]] = value[order[rank == 1]]
    return first, second


# --- fixes -----------------------------------------------------------------------------------------


def _escalate(
    t: Table, suppressed: np.ndarray, need: dict[str, np.ndarray], failing: np.ndarray, step: np.ndarray
) -> None:
    """One step up the ladder for each failing cell (cost: the people in newly suppressed cells).

    A cell of a block (one value of the key dimension):
    0. a finest cell: its cheapest published margin cell in the block (not the block total),
       so that it can trade along the other dimension; a margin cell: its cheapest siblings
       (same margin, same block) until they hold its deficit;
    1. every margin cell of the block above it but the block total;
    2. the cheapest published finest cells of the block, with their margin cells, until the
       block's open cells hold the deficit;
    3. the whole block (it joins the reservoir of fully suppressed key values);
    4+. one more whole block: the cheapest value of the key not yet suppressed that has cells
       where this cell does (the reservoir grows there).
    A cell without the key (totals per country, per age band): at step k the whole slice of the
    k-th cheapest other value of its first dimension; the grand total: everything."""
    people = next((m for m, k in t.kinds.items() if k == "people"), None)
    cost = (t.values[people] if people else t.values[next(iter(t.values))]).astype(np.float64)
    idx = t.index
    total = t.margins.index((0,)) if (0,) in t.margins else None
    full_margin = t.margins.index(tuple(range(t.dims)))
    key = t.codes[:, 0]
    order = np.lexsort((*(t.codes[failing].T[::-1]), t.margin[failing]))
    by_block = np.argsort(key, kind="stable")  # cells grouped by block, in cell order within one
    bounds = np.searchsorted(key[by_block], np.arange(int(key.max()) + 2))

    def cells_of(b: int) -> np.ndarray:
        return by_block[bounds[b] : bounds[b + 1]]

    deficit_of = lambda y: max(  # noqa: E731
        (float(q[y] - t.values[m][y]) for m, q in need.items() if q[y] > 0), default=0.0
    )
    for y in failing[order]:
        y = int(y)
        level = int(step[y])
        dims = t.margins[t.margin[y]]
        if not dims:
            suppressed[:] = True
            return
        if 0 not in dims:
            d = dims[0]
            values = np.unique(t.codes[(t.margin == t.margin[y]) & ~suppressed, d])
            chain = [m for m, ms in enumerate(t.margins) if d in ms]
            if len(values):
                weight = np.array([cost[(t.codes[:, d] == v_) & np.isin(t.margin, chain)].sum() for v_ in values])
                pick = values[np.lexsort((values, weight))[0]]
            else:
                pick = t.codes[y, d]
            suppressed[np.isin(t.margin, chain) & np.isin(t.codes[:, d], [pick, t.codes[y, d]])] = True
            continue
        b = int(key[y])
        mine = cells_of(b)
        deficit = deficit_of(y)
        if level >= 3:
            suppressed[mine] = True
            if level >= 4:
                _grow_reservoir(t, suppressed, y, cost)
            continue
        if level == 2:
            fin = mine[(t.margin[mine] == full_margin) & ~suppressed[mine]]
            taken, held = [], 0.0
            for x in fin[np.lexsort([*t.codes[fin].T[::-1].tolist(), cost[fin]])] if len(fin) else []:
                if held >= deficit:
                    break
                taken.append(int(x))
                held += float(t.values[people or next(iter(t.values))][x])
            for x in taken:
                pos = int(np.searchsorted(idx.finest, x))
                for m, ms in enumerate(t.margins):
                    if 0 in ms and m != total:
                        suppressed[idx.proj[m][pos]] = True
            continue
        if t.margin[y] == full_margin:
            pos = int(np.searchsorted(idx.finest, y))
            above = [
                int(idx.proj[m][pos]) for m, ms in enumerate(t.margins) if 0 in ms and m not in (total, full_margin)
            ]
            above = [u for u in above if not suppressed[u]]
            if level == 0 and above:
                above = [min(above, key=lambda u: (cost[u], t.margin[u]))]
            suppressed[above] = True
            continue
        siblings = mine[(t.margin[mine] == t.margin[y]) & (mine != y)]
        siblings = siblings[np.lexsort((*(t.codes[siblings].T[::-1]), cost[siblings]))] if len(siblings) else siblings
        held = float(sum(t.values[people or next(iter(t.values))][siblings[suppressed[siblings]]]))
        for u in siblings:
            if held >= deficit * (level + 1):
                break
            if not suppressed[u]:
                suppressed[u] = True
                held += float(t.values[people or next(iter(t.values))][u])


def _grow_reservoir(t: Table, suppressed: np.ndarray, y: int, cost: np.ndarray) -> None:
    """Suppress the whole block of the cheapest key value not fully suppressed that has finest
    cells at the positions under y."""
    idx = t.index
    key_margins = [m for m, ms in enumerate(t.margins) if 0 in ms]
    finest_codes = t.codes[idx.finest]
    dims = [d for d in t.margins[t.margin[y]] if d != 0]
    under = np.ones(len(idx.finest), dtype=bool)
    for d in dims:
        under &= finest_codes[:, d] == t.codes[y, d]
    blocks = np.unique(finest_codes[under, 0])
    is_key_cell = np.isin(t.margin, key_margins)
    open_blocks = np.unique(t.codes[is_key_cell & ~suppressed, 0])
    candidates = np.intersect1d(blocks, open_blocks)
    if not len(candidates):
        candidates = open_blocks
    if not len(candidates):
        suppressed[:] = True
        return
    weight = np.bincount(t.codes[is_key_cell, 0], weights=cost[is_key_cell])[candidates]
    pick = candidates[np.lexsort((candidates, weight))[0]]
    suppressed[is_key_cell & (t.codes[:, 0] == pick)] = True

"""The privacy engine: choose levels, decide what to suppress, measure the release.

One engine for the nightly export and for `python -m transforms anonymize` (any CSV). It
works on a source view with one row per record: the person, `<attribute>_id` per
quasi-identifier (ids into the lookups `lk_<attribute>`), and optionally a sensitive column.

1. `solve`: read the frequency table into memory once (frequency.py), then run the exact
   lattice search (lattice.py); a node is evaluated in memory by the privacy models:
   k-anonymity in people and l-diversity on the row's combination (`models/`), and, when the
   policy protects histories, (k, k^m)-anonymity of each person's plays (`models/history.py`).
2. `apply`: the decision for the chosen node: every attribute's published label per lookup id
   (`pub_<attribute>`; a title's label follows the cut), and the frequency rows suppressed
   (`suppressed`); the extract is written from the rows and these small tables.
3. `measure`: the counts, measures and risks the manifest and reports show.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.backends import Backend, sql, usable_memory
from transforms.errors import CapacityError
from transforms.privacy import frequency, lattice, metrics
from transforms.privacy.frequency import FreqTable, combine
from transforms.privacy.heap import keep_freed_memory
from transforms.privacy.hierarchies import Hierarchy
from transforms.privacy.models import KAnonymity, LDiversity, Model
from transforms.privacy.models import history as hist
from transforms.privacy.split import RowClasses, Split, cache_budget, emptied

log = logging.getLogger(__name__)

METRICS = ("loss", "precision", "discernibility")
UNITS = ("rows", "people")

#: The search's peak memory beyond its caches' budgets, in bytes per frequency row, with a
#: history model (its pairs, set enumerations and repairs) and with row models only: measured
#: with tracemalloc at 1M and 10M events (docs/BENCHMARKS.md, part 13), rounded up.
SEARCH_BYTES_PER_ROW = {"history": 450, "rows": 170}


@dataclass(frozen=True)
class Attribute:
    """One quasi-identifier as the engine sees it."""

    column: str
    hierarchy: Hierarchy
    levels: tuple[int, int]  # lowest and highest level the search may choose
    weight: float = 1.0  # its share of the objective (ARX's attribute weights)


@dataclass(frozen=True)
class HistorySpec:
    """Which attributes an attacker knows of a person and of each play, and m."""

    m: int
    person: tuple[str, ...]
    play: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class PastItems:
    """Items the epoch's other nights published for tonight's people: fixed, never removed."""

    pid: np.ndarray  # tonight's person index
    item: np.ndarray  # 0..items-1, distinct from every item of tonight (another day)
    items: int


@dataclass(frozen=True)
class Problem:
    source: str
    person: str
    attributes: list[Attribute]
    k: int
    suppression_limit: float
    unit: str = "rows"  # what the limit counts: rows, or people with any row suppressed
    metric: str = "loss"
    sensitive: str | None = None  # a column of the source, for l-diversity
    l: int = 0  # noqa: E741 (enforce distinct l-diversity of `sensitive` when >= 2)
    history: HistorySpec | None = None
    past: PastItems | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; use {', '.join(METRICS)}")
        if self.unit not in UNITS:
            raise ValueError(f"unknown suppression unit {self.unit!r}; use rows or people")
        if self.l and not self.sensitive:
            raise ValueError("l-diversity needs a sensitive column")

    @property
    def columns(self) -> list[str]:
        return [a.column for a in self.attributes]

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return [a.levels for a in self.attributes]

    @property
    def heights(self) -> list[int]:
        return [a.hierarchy.height for a in self.attributes]

    @property
    def weights(self) -> list[float]:
        return [a.weight for a in self.attributes]

    @property
    def models(self) -> list[Model]:
        out: list[Model] = [KAnonymity(self.k)]
        if self.l:
            out.append(LDiversity(self.l, self.sensitive or ""))
        if self.history:
            index = {c: i for i, c in enumerate(self.columns)}
            h = self.history
            out.append(
                hist.HistoryModel(
                    self.k, h.m, tuple(index[c] for c in h.person), tuple(index[c] for c in h.play), index[h.title]
                )
            )
        return out


@dataclass
class Outcome:
    """What protecting the data at one node does: which frequency rows stay, and why others go."""

    node: lattice.Node
    alive: np.ndarray
    by_rows: np.ndarray  # suppressed by the row models (k, l)
    by_history: np.ndarray  # suppressed by the history model
    cut: hist.Cut | None = None


@dataclass
class Measures:
    """What a release looks like: counts, class sizes, information loss and risk."""

    input_rows: int
    input_people: int
    published_rows: int
    published_people: int
    suppressed_rows: int
    people_with_suppressed_rows: int
    classes: int
    min_class_people: int
    avg_class_people: float
    loss: float
    precision: float
    discernibility: float
    risk_before: dict[str, float] = field(default_factory=dict)
    risk_after: dict[str, float] = field(default_factory=dict)
    class_size_histogram: dict[str, int] = field(default_factory=dict)
    loss_by_attribute: dict[str, float] = field(default_factory=dict)
    history: dict[str, object] = field(default_factory=dict)


class Engine:
    def __init__(self, backend: Backend, problem: Problem) -> None:
        self.b = backend
        self.p = problem
        self.ft: FreqTable | None = None
        self._cuts: dict[int, hist.Cut] = {}
        self._title_info: hist.TitleInfo | None = None
        self._title_rows: np.ndarray | None = None  # frequency rows per lowest title code (history only)
        #: The history repair of the node being evaluated (built for the pairs bound, run by `protect`).
        self._repair_slot: tuple[lattice.Node, hist.Repair] | None = None
        self.outcome: Outcome | None = None
        #: The outcome of the feasible exact evaluation of least objective so far (the first of
        #: equals, as the search keeps them): `apply` at that node reuses it instead of
        #: protecting the data again.
        self._best_outcome: tuple[float, Outcome] | None = None
        self.seconds: dict[str, float] = {}
        # The models that are rules on classes (k, l), and the class statistics they read.
        self._class_models = [m for m in problem.models if m.needs]
        self._class_needs = frozenset().union(*(m.needs for m in self._class_models))

    @property
    def history(self) -> hist.HistoryModel | None:
        return next((m for m in self.p.models if isinstance(m, hist.HistoryModel)), None)

    # 1. choose levels -------------------------------------------------------------------
    def load(self) -> FreqTable:
        if self.ft is None:
            t0 = time.perf_counter()
            keep_freed_memory()  # the search's temporary arrays reuse memory (heap.py)
            p = self.p
            self.ft, _ = frequency.build(
                self.b, p.source, p.person, p.attributes, p.sensitive if p.l else None, admit=self._admit
            )
            self.split = Split(self.ft, relabel=self._cut_labels)
            if self.history:
                self._title_info = self._read_title_info()
                codes = self.ft.codes[self.history.title]
                self._title_rows = np.bincount(codes, minlength=len(self._title_info.titles))
            self.seconds["frequency_table"] = round(time.perf_counter() - t0, 3)
            log.info(
                "engine: frequency table of %d rows (people x finest codes) in %.2fs",
                len(self.ft),
                self.seconds["frequency_table"],
            )
        return self.ft

    def _admit(self, rows: int) -> None:
        """Refuse, before reading it, a frequency table whose search would not fit this worker:
        the search holds it and its per-node arrays in this process's memory, and a worker out
        of memory is killed without a word (and retried, to be killed again)."""
        need = search_memory(rows, self.history is not None)
        usable, held = usable_memory(), self.b.held_memory()
        have = None if usable is None else max(0, usable - held)
        log.info(
            "engine: frequency table of %d rows; the search needs about %s (%s usable, less %s for the engine)",
            rows,
            _gb(need),
            _gb(usable),
            _gb(held),
        )
        if have is None or need <= have or os.environ.get("EXPORT_ENGINE_MEMORY_CHECK", "on") == "off":
            return
        raise CapacityError(
            f"this night's frequency table has {rows:,} rows (people x finest codes), and the search "
            f"holds it in memory: it needs about {_gb(need)}, and this worker leaves it {_gb(have)} "
            f"({_gb(usable)} usable, {_gb(held)} kept for the engine's own pool). "
            "Run the anonymize task on a worker with more memory, give the policy coarser lowest "
            "levels (fewer distinct codes per person), or set EXPORT_ENGINE_MEMORY_CHECK=off to "
            "try anyway (docs/OPERATIONS.md)"
        )

    def solve(self, preferred: lattice.Node | None = None) -> lattice.SearchResult:
        ft = self.load()
        t0 = time.perf_counter()  # the search's time: its bounds and the lattice walk
        gen = self._generalization_costs(ft)
        w, q = self.p.weights, sum(self.p.weights)
        nodes = lattice.nodes_of(self.p.ranges)
        levels = np.array(nodes, dtype=np.int64).reshape(len(nodes), len(w))
        total = np.zeros(len(nodes))
        for i, (lo, hi) in enumerate(self.p.ranges):  # attribute by attribute, as a sum in order would
            per_level = np.array([gen[i][lvl] if lo <= lvl <= hi else 0.0 for lvl in range(hi + 1)])
            total = total + w[i] * per_level[levels[:, i]]
        bound = dict(zip(nodes, (total / q).tolist(), strict=True))
        found = lattice.search(self.p.ranges, bound, self._evaluate, preferred)
        self.seconds["search"] = round(time.perf_counter() - t0, 3)
        return found

    def finer_neighbours(self, found: lattice.SearchResult) -> dict[int, lattice.Evaluation]:
        """For each attribute above its lowest allowed level at the chosen node: the node with
        that attribute one level finer and the others as chosen (what publishing it finer would
        take). From the search's trace when it evaluated the node, else evaluated now (a bound
        when a cheap one already shows the node infeasible or no better than the chosen one:
        `exact` is then False)."""
        best = found.best.levels
        seen = {tuple(e.levels): e for e in found.trace}
        out = {}
        for a, (lo, _) in enumerate(self.p.ranges):
            if best[a] > lo:
                node = (*best[:a], best[a] - 1, *best[a + 1 :])
                # Against the chosen node's objective: a cheap bound settles most (exact is then False).
                out[a] = seen.get(node) or self._evaluate(node, found.best.loss)
        return out

    def _generalization_costs(self, ft: FreqTable) -> list[dict[int, float]]:
        """Per attribute and level, a lower bound of its mean cost in any release at that level."""
        p = self.p
        if p.metric == "discernibility":
            return [dict.fromkeys(range(lo, hi + 1), 0.0) for lo, hi in p.ranges]
        if p.metric == "precision":
            return [
                {lvl: metrics.precision_cost(lvl, h) for lvl in range(lo, hi + 1)}
                for (lo, hi), h in zip(p.ranges, p.heights, strict=True)
            ]
        total = float(ft.total_rows or 1)
        out = [
            {lvl: float(np.dot(ft.rows, ft.cost[i][lvl][ft.codes[i]])) / total for lvl in range(lo, hi + 1)}
            for i, (lo, hi) in enumerate(p.ranges)
        ]
        if self.history:  # the title costs what its cut from that level costs, at least
            t = self.history.title
            for lvl in out[t]:
                out[t][lvl] = self._cut_costs(self.cut(lvl))[1] / total
        return out

    def _cached(self, kind: str, key: tuple, make):
        """Per-node arrays computed once and reused by the bound, the repair and the judge
        (split.py: a pool of their own, within a byte budget)."""
        self.load()
        return self.split.cached_node((kind, *key), make)

    def _row_classes(self, node: lattice.Node) -> RowClasses:
        """A row's class is its combination of every quasi-identifier as published at `node`:
        with a history model, the title as its cut from the node's title level labels it."""
        self.load()
        return self.split.row_classes(self._row_parts(node))

    def _row_parts(self, node: lattice.Node) -> tuple:
        title = self.history.title if self.history else None
        return tuple((a, node[a], "cut") if a == title else (a, node[a]) for a in range(len(node)))

    def _cut_labels(self, attribute: int, level: int) -> tuple[np.ndarray, int]:
        """The title's labels in a row class: its cut from `level` (split.py's relabelling)."""
        cut = self.cut(level)
        return cut.label, cut.labels

    def _repair(self, node: lattice.Node) -> hist.Repair:
        """The history repair of the node's pairs left after the forced rows (built once per node)."""
        ft = self.load()

        node = tuple(node)
        if self._repair_slot is None or self._repair_slot[0] != node:
            self._repair_slot = None  # one node's repair in memory at a time (hundreds of MB at 10M events)
            pairs = self._pairs(ft, node)
            alive = ~self.forced(node)
            pair_alive = np.bincount(pairs.row_pair[alive], minlength=len(pairs.pid)) > 0
            self._repair_slot = (node, self._new_repair(pairs, pair_alive, node))
        return self._repair_slot[1]

    def _new_repair(self, pairs: hist.Pairs, pair_alive: np.ndarray, node: lattice.Node) -> hist.Repair:
        """A repair of tonight's alive pairs, with the epoch's earlier items as fixed items.
        `repair.ids`: per history entry, its pair id tonight (-1 for an earlier night's item).
        Without earlier items, the node's sets come from its play levels' shared enumeration."""
        h, ids, fixed = self._histories(pairs, pair_alive)
        shared = None
        if fixed is None:
            enum = self._enumeration(node)
            if enum is not None:
                person, _ = self._item_parts(node)
                shared = (enum, ids, *self.split.person_classes(person))
        repair = hist.Repair(h, self.history.k, self.history.m, fixed, shared)
        repair.ids = ids
        return repair

    def _item_parts(self, node: lattice.Node) -> tuple[tuple, tuple]:
        """The history's attributes at the node other than the title, split into those with one
        value per person in the data (they make the person's class) and the rest (per play)."""
        hm = self.history
        return self.split.divide(tuple((a, node[a]) for a in (*hm.person, *hm.play) if a != hm.title))

    def _play_levels(self, node: lattice.Node) -> tuple[tuple, int]:
        """The node's (play-level attributes and levels, title level): what its pairs depend on
        beyond the person classes."""
        return self._item_parts(node)[1], node[self.history.title]

    def _play_pairs(self, play: tuple, base: int) -> hist.Pairs:
        """The distinct (person, play item) pairs of these play levels (cached per combination)."""
        ft, hm = self.load(), self.history

        def make() -> hist.Pairs:
            cut = self.cut(base)
            columns = [cut.label[ft.codes[hm.title]], *(ft.at(a, lvl) for a, lvl in play)]
            cards = [cut.labels, *(ft.card[a][lvl] for a, lvl in play)]
            return hist.Pairs.of(ft.pid, *combine(columns, cards))

        return self.split.cached(("play_pairs", play, base), make)

    def _enumeration(self, node: lattice.Node) -> hist.Enumeration | None:
        play, base = self._play_levels(node)

        def make() -> hist.Enumeration | None:
            qp = self._play_pairs(play, base)
            return hist.Enumeration.of(hist.Histories(qp.pid, qp.item, qp.items), self.history.m)

        return self.split.cached_sets((play, base), make)

    def _histories(self, pairs: hist.Pairs, pair_alive: np.ndarray):
        """Tonight's alive (person, item) pairs plus the epoch's earlier items of the same people."""
        past = self.p.past
        ids = np.flatnonzero(pair_alive)
        if past is None:
            return hist.Histories(pairs.pid[ids], pairs.item[ids], pairs.items), ids, None
        total = pairs.items + past.items
        pid = np.concatenate([pairs.pid[ids], past.pid])
        item = np.concatenate([pairs.item[ids], pairs.items + past.item])
        source = np.concatenate([ids, np.full(len(past.pid), -1, dtype=np.int64)])
        order = np.lexsort((item, pid))
        fixed = np.zeros(total, dtype=bool)
        fixed[pairs.items :] = True
        return hist.Histories(pid[order], item[order], total), source[order], fixed

    def _pairs(self, ft: FreqTable, node: lattice.Node) -> hist.Pairs:
        """The node's distinct (person, item) pairs, sorted by person then item.

        An item is (person class, play item). The pairs are the distinct (person, play item)
        pairs, which do not depend on the person-level levels: computed once per play-level
        combination (split.py), then labelled with each person's class at the node."""
        hm, split = self.history, self.split
        person, play = self._item_parts(node)
        base = node[hm.title]

        def make() -> hist.Pairs:
            qp = self._play_pairs(play, base)
            pc, n_pc = split.person_classes(person)
            key = pc[qp.pid] * qp.items + qp.item
            span = n_pc * qp.items
            if span <= frequency.sparse_limit(len(key)):
                item, items = key, span
            else:  # dense ids in key order, so each person's items stay sorted
                uniques, item = np.unique(key, return_inverse=True)
                items = len(uniques)
            return hist.Pairs(qp.row_pair, qp.pid, item.astype(np.int64), int(items))

        return self._cached("pairs", tuple(node[a] for a in (*hm.person, *hm.play)), make)

    def protect(self, node: lattice.Node, limit_rows: int | None = None) -> Outcome:
        """Apply every model at `node` until none is violated (each step only removes rows).

        Row models (k people, l values per row class) and, with a history policy, the history
        model: its repair runs to a fixpoint on (person, item) pairs, then the row classes are
        re-checked, until neither removes anything. With `limit_rows`, stop as soon as more rows
        than that are suppressed (the node is then infeasible and the outcome partial).
        """
        ft = self.load()
        hm = self.history
        rc = self._row_classes(node)
        cls = rc.of_row
        first = self._first_pass(node)[cls]
        cut = self.cut(node[hm.title]) if hm else None
        if hm is None:
            return Outcome(node, ~first, first, np.zeros(len(ft), dtype=bool), cut)
        # Rows every valid release removes go first (the repair would remove them first anyway).
        alive = ~self.forced(node)
        by_rows = first.copy()
        by_history = ~alive & ~first
        pairs = self._pairs(ft, node)
        pair_rows = np.bincount(pairs.row_pair, weights=ft.rows, minlength=len(pairs.pid))
        # Built for `alive` as it is now; it changes as it runs, so this call takes it.
        repair = self._repair(node)
        self._repair_slot = None
        ids = repair.ids  # per history entry: its pair tonight (-1: an earlier night's item)
        entry_of = np.full(len(pairs.pid), -1, dtype=np.int64)
        entry_of[ids[ids >= 0]] = np.flatnonzero(ids >= 0)
        weights = np.where(ids >= 0, pair_rows[np.maximum(ids, 0)], 0.0)
        pair_alive = np.zeros(len(pairs.pid), dtype=bool)
        pair_alive[ids[ids >= 0]] = True
        while True:
            # Rows gone other than through the repair's own removals, which it counts itself.
            budget = None
            if limit_rows is not None:
                budget = limit_rows - float(ft.rows[~alive].sum()) + float(weights[~repair.alive].sum())
            removed = ids[repair.run(weights, budget)]  # the history repair, on pairs
            pair_alive[removed[removed >= 0]] = False
            drop = alive & ~pair_alive[pairs.row_pair]
            drop |= (alive & ~drop) & self._single_title_rows(ft, cut, alive & ~drop)
            by_history |= drop
            alive &= ~drop
            if limit_rows is not None and ft.rows[~alive].sum() > limit_rows:
                break  # infeasible: no need to finish
            drop = alive & self._small_classes(ft, rc, alive)[cls]
            by_rows |= drop
            alive &= ~drop
            if not drop.any():
                break  # the row classes hold, so the history repair done above still holds
            # Pairs whose every row is now gone leave the repair, which then goes on.
            still = np.bincount(pairs.row_pair[alive], minlength=len(pairs.pid)) > 0
            gone = np.flatnonzero(pair_alive & ~still)
            pair_alive &= still
            repair.drop(entry_of[gone])
        return Outcome(node, alive, by_rows, by_history, cut)

    def _first_pass(self, node: lattice.Node) -> np.ndarray:
        """Row classes violating a row model before anything else is suppressed (cached per node)."""
        key = tuple(node)
        cache = self.__dict__.setdefault("_first", {})
        if key not in cache:
            ft = self.load()
            rc = self._row_classes(node)
            if len(cache) > 64:
                cache.clear()
            cache[key] = self._small_classes(ft, rc, None)
        return cache[key]

    def _small_classes(self, ft: FreqTable, rc: RowClasses, alive: np.ndarray | None) -> np.ndarray:
        """Per row class: does it violate a row model (`models/`) among alive rows? Only the
        statistics the models read are computed."""
        models, needs = self._class_models, self._class_needs
        stats: dict[str, np.ndarray] = {}
        if "people" in needs:
            stats["people"] = rc.people(alive)
        if "l_values" in needs:
            if rc.sensitive is None:  # (class, sensitive value) pairs, indexed once per node
                rc.sensitive = _pair_index(rc.of_row, ft.sens, int(ft.sens.max()) + 1)
            pairs, pair_cls = rc.sensitive
            live = slice(None) if alive is None else alive
            present = np.bincount(pairs[live], minlength=len(pair_cls)) > 0
            stats["l_values"] = np.bincount(pair_cls[present], minlength=rc.n)
        small = np.zeros(rc.n, dtype=bool)
        for m in models:
            small |= m.violates(stats)
        return small

    def forced(self, node: lattice.Node) -> np.ndarray:
        """Rows every valid release at `node` suppresses: rows of classes that violate a row
        model, and plays whose item alone is shared by fewer than k people. Cheap; a lower
        bound of what `protect` suppresses (removing rows never raises a count)."""
        return self._cached("forced", tuple(node), lambda: self._forced(node))

    def _forced(self, node: lattice.Node) -> np.ndarray:
        ft = self.load()
        dead = self._first_pass(node)[self._row_classes(node).of_row]
        hm = self.history
        if hm:
            pairs = self._pairs(ft, node)
            support = np.bincount(pairs.item, minlength=pairs.items)  # pairs are distinct
            dead |= (support[pairs.item] < hm.k)[pairs.row_pair]
        return dead

    def cut(self, base: int) -> hist.Cut:
        """The title cut from `base` (the same for every node with that title level)."""
        if base not in self._cuts:
            hm = self.history
            self._cuts[base] = hist.title_cut(self.load(), hm.title, base, hm.k, self._title_info)
        return self._cuts[base]

    def _single_title_rows(self, ft: FreqTable, cut: hist.Cut, alive: np.ndarray) -> np.ndarray:
        """Rows of generalized labels that, after suppression, stand for a single title."""
        info, title = self._title_info, self.history.title
        codes = ft.codes[title]
        gone = emptied(codes, self._title_rows, ~alive)
        if gone is None:
            present = np.bincount(codes[alive], minlength=len(cut.level)) > 0
        else:  # from the dead rows, when they are the fewer
            present = self._title_rows > 0
            present[gone] = False
        titles = np.bincount(cut.label[present], weights=info.titles[present], minlength=cut.labels)
        is_own = np.bincount(cut.label, weights=info.own(cut.level), minlength=cut.labels).astype(bool)
        bad = (titles == 1) & ~is_own
        return bad[cut.label[codes]]

    def _read_title_info(self) -> hist.TitleInfo:
        a = self.p.attributes[self.history.title]
        lo, hi = a.levels
        table = self.b.fetch(sql("title_info", column=a.column, lowest=lo, levels=list(range(lo, hi + 1))))
        return hist.TitleInfo(
            top=hi,
            titles=table.column("titles").to_numpy().astype(np.float64),
            is_self={
                lvl: table.column(f"self{lvl}").to_numpy(zero_copy_only=False).astype(bool) for lvl in range(lo, hi + 1)
            },
        )

    def _evaluate(self, node: lattice.Node, best: float | None) -> lattice.Evaluation:
        """The node's exact evaluation, unless a cheap lower bound already shows it infeasible or
        no better than `best` (then a bound-only evaluation: the history repair is skipped)."""
        ft, p = self.load(), self.p
        total = ft.total_rows
        limit_rows = int(p.suppression_limit * total) if p.unit == "rows" else None
        if self.history is not None:
            if p.unit == "rows":  # the row models alone may already exceed the limit
                first = self._first_pass(node)[self._row_classes(node).of_row]
                if ft.rows[first].sum() > p.suppression_limit * total:
                    lower = self._judge(node, first, total)
                    lower.exact = False
                    return lower
            forced = self.forced(node)
            lower = self._judge(node, forced, total)
            no_better = best is not None and lower.loss >= best
            if lower.feasible and not no_better and self.history.m >= 2 and p.unit == "rows":
                lower = self._with_pair_bound(node, forced, lower, total)
            if not lower.feasible or no_better:
                self._repair_slot = None  # settled without it
                lower.exact = False
                return lower
        out = self.protect(node, limit_rows)
        result = self._judge(node, ~out.alive, total, out)
        if limit_rows is not None and not result.feasible:
            result.exact = False  # `protect` stopped once past the limit: its count is a lower bound
        kept = self._best_outcome
        if result.feasible and (kept is None or result.loss < kept[0] - lattice.EPSILON):
            # Complete: a limit only stops `protect` early at a node past it (infeasible).
            self._best_outcome = (result.loss, out)
        return result

    def _with_pair_bound(
        self, node: lattice.Node, forced: np.ndarray, lower: lattice.Evaluation, total: int
    ) -> lattice.Evaluation:
        """Add the rows pairs force out (a lower bound) to the forced rows' evaluation."""
        ft, p = self.load(), self.p
        pairs = self._pairs(ft, node)
        alive = ~forced
        pair_rows = np.bincount(pairs.row_pair[alive], weights=ft.rows[alive], minlength=len(pairs.pid))
        repair = self._repair(node)
        ids = repair.ids  # an earlier night's item (-1) cannot be removed: it weighs infinitely
        extra = hist.pair_bound(repair, np.where(ids >= 0, pair_rows[np.maximum(ids, 0)], np.inf))
        suppressed = lower.suppressed_rows + int(extra)
        feasible = suppressed <= p.suppression_limit * total
        # The objective bound stays: those rows' kept cost already counts, and suppressing
        # them can only add to it.
        return lattice.Evaluation(node, feasible, suppressed, lower.loss, lower.classes, None)

    def _judge(
        self, node: lattice.Node, dead: np.ndarray, total: int, out: Outcome | None = None
    ) -> lattice.Evaluation:
        """Feasibility and objective of suppressing `dead` rows at `node`."""
        ft, p = self.load(), self.p
        dead_rows = np.flatnonzero(dead)
        suppressed = int(ft.rows[dead_rows].sum())
        if p.unit == "people":
            gone = len(np.unique(ft.pid[dead]))
            feasible = ft.people > 0 and gone <= p.suppression_limit * ft.people
        else:
            feasible = total > 0 and suppressed <= p.suppression_limit * total
        alive = ~dead
        view = out or Outcome(
            node,
            alive,
            dead,
            np.zeros(len(ft), dtype=bool),
            self.cut(node[self.history.title]) if self.history else None,
        )
        q = sum(p.weights)
        if p.metric == "precision":
            loss = metrics.objective_loss(self._kept_precision(view), suppressed, q, total)
        else:
            loss = metrics.objective_loss(self._kept_cost(view, dead_rows), suppressed, q, total)
        rc = self._row_classes(node)
        cls, n_cls = rc.of_row, rc.n
        bound_above = None
        if p.metric == "discernibility":
            kept = np.bincount(cls[alive], weights=ft.rows[alive], minlength=n_cls)
            loss = metrics.discernibility(float((kept**2).sum()), suppressed, total)
            if self.history is None:  # whole classes go or stay: their squares bound every node above
                every = np.bincount(cls, weights=ft.rows, minlength=n_cls)
                bound_above = float((every**2).sum())
        return lattice.Evaluation(node, bool(feasible), suppressed, loss, rc.left(dead), bound_above)

    def _levels_per_row(self, out: Outcome, attribute: int) -> np.ndarray:
        """Each frequency row's published level of `attribute` (the cut's for a history title)."""
        ft = self.load()
        if out.cut is not None and attribute == self.history.title:
            return out.cut.level[ft.codes[attribute]]
        return np.full(len(ft), out.node[attribute], dtype=np.int64)

    def _row_costs(self, out: Outcome, attribute: int) -> np.ndarray:
        ft = self.load()
        if out.cut is not None and attribute == self.history.title:
            return self._title_costs(out)
        return ft.cost[attribute][out.node[attribute]][ft.codes[attribute]]

    def _title_costs(self, out: Outcome) -> np.ndarray:
        """Each row's Loss cost of its title at the level the cut publishes it."""
        ft, t = self.load(), self.history.title
        return self._cut_costs(out.cut)[0][ft.codes[t]]

    def _cut_costs(self, cut: hist.Cut) -> tuple[np.ndarray, float]:
        """Per lowest title code, the Loss cost of the label the cut publishes it as; and the
        sum over all rows of their title's cost under the cut. Once per cut: a node's cut is
        its title level's (`cut(base)`), and the per-node cache would drop them between nodes."""
        kept = self.__dict__.setdefault("_costs_by_cut", {})
        if id(cut) not in kept:
            ft, t = self.load(), self.history.title
            per_code = hist.at_levels(ft.cost[t], cut.level)
            # The cut itself is kept too, so its id stays its own.
            kept[id(cut)] = (cut, per_code, float(np.dot(ft.rows, per_code[ft.codes[t]])))
        return kept[id(cut)][1:]

    def _kept_cost(self, out: Outcome, dead: np.ndarray) -> float:
        """Sum over kept rows of their weighted Loss costs: every row's cost at the node (known
        per attribute and level) less the suppressed rows' (`dead`: their indexes, usually few)."""
        ft = self.load()
        rows = ft.rows[dead]
        total = 0.0
        for i, w in enumerate(self.p.weights):
            lvl = out.node[i]
            if out.cut is not None and i == self.history.title:
                per_code, every = self._cut_costs(out.cut)
                gone = float(np.dot(rows, per_code[ft.codes[i][dead]]))
            else:
                every = self._every_cost(i, lvl)
                gone = float(np.dot(rows, ft.cost[i][lvl][ft.codes[i][dead]]))
            total += w * (every - gone)
        return total

    def _every_cost(self, attribute: int, level: int) -> float:
        """Sum over all rows of the Loss cost of `attribute` at `level`."""
        costs = self.__dict__.setdefault("_every", {})
        if (attribute, level) not in costs:
            ft = self.load()
            per_code = np.bincount(ft.codes[attribute], weights=ft.rows, minlength=len(ft.cost[attribute][level]))
            costs[(attribute, level)] = float(np.dot(per_code, ft.cost[attribute][level]))
        return costs[(attribute, level)]

    def _kept_precision(self, out: Outcome) -> float:
        ft = self.load()
        rows = ft.rows * out.alive
        return float(
            sum(
                w * np.dot(rows, self._levels_per_row(out, i) / max(1, h - 1))
                for i, (h, w) in enumerate(zip(self.p.heights, self.p.weights, strict=True))
            )
        )

    # 2. apply -----------------------------------------------------------------------------
    def apply(self, levels: dict[str, int]) -> Outcome:
        """Register `pub_<attribute>` (id -> published label and companions) and `suppressed`."""
        ft, p = self.load(), self.p
        node = tuple(levels[c] for c in p.columns)
        kept = self._best_outcome
        out = kept[1] if kept is not None and tuple(kept[1].node) == node else self.protect(node)
        self.outcome = out
        for i, a in enumerate(p.attributes):
            table = self.b.fetch(
                sql(
                    "lookup_labels",
                    column=a.column,
                    lowest=a.levels[0],
                    companions=list(a.hierarchy.companions),
                    levels=list(range(a.hierarchy.height)),
                )
            )
            lowest = table.column("lowest").to_numpy()
            chosen = out.cut.level[lowest] if (out.cut is not None and i == self.history.title) else None
            columns = {"id": table.column("id")}
            for name in ("label", *a.hierarchy.companions):
                prefix = "l" if name == "label" else f"{name}__"
                if chosen is None:
                    columns[name] = table.column(f"{prefix}{node[i]}")
                else:
                    per_level = [table.column(f"{prefix}{lv}").to_pylist() for lv in range(a.hierarchy.height)]
                    columns[name] = pa.array([per_level[lv][r] for r, lv in enumerate(chosen)], pa.string())
            self.b.register_arrow(f"pub_{a.column}", pa.table(columns))
        dead = ~out.alive
        suppressed = {"pid": pa.array(ft.pid[dead])}
        for i in range(len(p.attributes)):
            suppressed[f"a{i}"] = pa.array(ft.codes[i][dead])
        self.b.register_arrow("suppressed_codes", pa.table(suppressed))
        self.b.materialize("suppressed", sql("suppressed_rows", person=p.person, attributes=len(p.attributes)))
        return out

    # 3. measure ---------------------------------------------------------------------------
    def measure(self, found: lattice.SearchResult) -> Measures:
        ft, p, out = self.load(), self.p, self.outcome
        if out is None or found.best is None:
            raise RuntimeError("apply the chosen levels before measuring")
        alive, rows = out.alive, ft.rows
        suppressed = int(rows[~alive].sum())
        if suppressed != found.best.suppressed_rows:
            raise RuntimeError("internal check failed: applied suppression differs from the search's")
        total = ft.total_rows
        rc = self._row_classes(out.node)
        cls, n_cls = rc.of_row, rc.n
        people = rc.people(alive)
        class_rows = np.bincount(cls[alive], weights=rows[alive], minlength=n_cls)
        kept = people > 0
        by_attribute = {}
        for i, a in enumerate(p.attributes):
            costs = np.where(alive, self._row_costs(out, i), 1.0)
            by_attribute[a.column] = float(np.dot(rows, costs)) / max(1, total)
        q = sum(p.weights)
        loss = (
            found.best.loss
            if p.metric == "loss"
            else sum(w * v for w, v in zip(p.weights, by_attribute.values(), strict=True)) / q
        )
        precision = (self._kept_precision(out) + suppressed * q) / (q * max(1, total))
        finest = tuple(a.levels[0] for a in p.attributes)
        # Before: every attribute at its finest allowed level, the title too (no cut).
        fine = self.split.row_classes(tuple((a, lvl) for a, lvl in enumerate(finest)))
        fine_cls, n_fine = fine.of_row, fine.n
        measures = Measures(
            input_rows=total,
            input_people=ft.people,
            published_rows=total - suppressed,
            published_people=len(np.unique(ft.pid[alive])),
            suppressed_rows=suppressed,
            people_with_suppressed_rows=len(np.unique(ft.pid[~alive])),
            classes=int(kept.sum()),
            min_class_people=int(people[kept].min()) if kept.any() else 0,
            avg_class_people=float(people[kept].mean()) if kept.any() else 0.0,
            loss=round(loss, 6),
            precision=round(precision, 6),
            discernibility=metrics.discernibility(float((class_rows**2).sum()), suppressed, total),
            risk_before=metrics.prosecutor_risk(
                fine.people(),
                np.bincount(fine_cls, weights=rows, minlength=n_fine),
            ),
            risk_after=metrics.prosecutor_risk(people, class_rows),
            class_size_histogram=metrics.class_histogram(people[kept], p.k),
            loss_by_attribute={c: round(v, 6) for c, v in by_attribute.items()},
        )
        if self.history:
            measures.history = self._history_measures(out)
        return measures

    def _history_measures(self, out: Outcome) -> dict[str, object]:
        ft, hm, p = self.load(), self.history, self.p
        title = p.attributes[hm.title]
        finest = tuple(a.levels[0] for a in p.attributes)
        base_cut = hist.Cut(
            np.full(len(ft.up[hm.title][finest[hm.title]]), finest[hm.title]),
            *_identity_labels(ft, hm.title, finest[hm.title]),
        )
        before_items, n_before = hist.item_ids(ft, finest, hm, base_cut)
        after_items, n_after = hist.item_ids(ft, out.node, hm, out.cut)
        before = hist.Histories.of(ft.pid, before_items, n_before)
        after_pairs = hist.Pairs.of(ft.pid, after_items, n_after)
        alive_pairs = np.bincount(after_pairs.row_pair[out.alive], minlength=len(after_pairs.pid)) > 0
        after, _, _ = self._histories(after_pairs, alive_pairs)
        t0 = time.perf_counter()
        risks = {
            f"m{m}": {"before": hist.risk(before, hm.k, m), "after": hist.risk(after, hm.k, m)}
            for m in sorted({1, 2, 3, hm.m, min(hm.m + 1, hist.MAX_M)})  # m + 1: what the report says is not resisted
        }
        self.seconds["history_risk"] = round(time.perf_counter() - t0, 3)
        levels = out.cut.level[ft.codes[hm.title]]
        names = title.hierarchy.level_names
        published = np.unique(levels[out.alive])
        plays_by_level = {names[int(lv)]: int(ft.rows[out.alive & (levels == lv)].sum()) for lv in published}
        codes_alive = np.unique(ft.codes[hm.title][out.alive])
        base = out.node[hm.title]
        return {
            "m": hm.m,
            "title_level": names[base],
            "plays_by_title_level": plays_by_level,
            "titles_generalized_above_level": int((out.cut.level[codes_alive] > base).sum()),
            "title_codes_published": len(codes_alive),
            "suppressed_rows_for_history": int(ft.rows[out.by_history].sum()),
            "suppressed_rows_for_row_k": int(ft.rows[out.by_rows].sum()),
            "risk": risks,
        }


def search_memory(rows: int, history: bool) -> int:
    """Bytes the search's arrays reach for a frequency table of `rows` rows: its caches' budgets
    (split.py: the level cache, and the history's two pools of a quarter each) and its per-row
    arrays. Measured peaks (tracemalloc, the whole anonymize stage): history 1.92 GB at 0.94M
    rows and 5.39 GB at 9.34M; rows only 1.14 GB at 0.72M and 2.14 GB at 7.19M."""
    budget = cache_budget() * (1.5 if history else 1.0)
    return int(budget + SEARCH_BYTES_PER_ROW["history" if history else "rows"] * rows)


def _gb(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 1e9:.1f} GB"


def _identity_labels(ft: FreqTable, attribute: int, level: int) -> tuple[np.ndarray, int]:
    n = len(ft.up[attribute][level])
    return np.arange(n, dtype=np.int64), n


def _pair_index(group: np.ndarray, member: np.ndarray, members: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, its distinct (group, member) pair; per pair, its group."""
    codes, uniques = pd.factorize(group * max(1, members) + member)
    return codes.astype(np.int64), uniques // max(1, members)

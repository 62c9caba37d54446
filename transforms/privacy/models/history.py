"""(k, k^m)-anonymity of viewing histories: nobody singled out by what they watched.

An attacker knows a person's published person-level attributes (age band, gender, plan,
location) and any m of that person's plays, each as the extract publishes it except the watch
time (title, part of day, device class). In the extract they must find at least k people who
match: k people with those attributes whose plays include all m.

Formally, an *item* is one distinct (person attributes, play attributes) combination of a
person's published plays, and a person's history is the set of their items. For every person
p and every set S of at most m of p's items, at least k people's histories contain S. With
m >= 1 this also makes every person-attribute combination, and every published title label,
shared by at least k people.

Enforced in two steps at a node of the lattice (levels for every attribute):
1. The title is generalized by a *cut* of its hierarchy, not blanked: starting from the node's
   title level, a label watched by fewer than k people, or a generalized label that stands for a
   single title of the night (so the title could be recovered by elimination), moves up a level,
   until every label qualifies (Apriori Anonymization, Terrovitis et al., VLDB 2008).
2. Plays that still violate it are suppressed, greedily: violations of one item first (every
   valid release must suppress those), then of 2, ... m items, removing for each person the
   rarest item of a violating set, until none is left. Suppression is always safe; the greedy
   choice is not guaranteed minimal (the problem is NP-hard).

Everything runs on the in-memory frequency table (frequency.py): item ids are dense codes,
supports are exact counts over subsets enumerated with numpy, never hashed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache
from math import comb

import numpy as np
import pandas as pd
from scipy import sparse, special

from transforms.privacy.frequency import INT64_SAFE, FreqTable, combine, expand, sparse_limit, unique
from transforms.privacy.models.base import Model

#: Enumerating a person's m-subsets is bounded: a person with more distinct items than this
#: allows for m has their rarest items suppressed first (safe, counted), keeping checks exact.
MAX_SUBSETS_PER_PERSON = 20_000
MAX_M = 5

#: Rounds of a repair that find violating sets by scanning every key before an inverted index is built.
SCANS_BEFORE_INDEX = 3

#: Removing items held by more than this share of all sets sweeps every set's members instead
#: of listing those sets (a listing costs several passes per set it lists). Same result.
SWEEP_ABOVE = 0.125


@dataclass(frozen=True)
class HistoryModel(Model):
    k: int
    m: int
    person: tuple[int, ...]  # attribute indexes known of the person
    play: tuple[int, ...]  # attribute indexes known of each play (the title among them)
    title: int  # attribute index of the title
    name = "(k, k^m)-anonymity of viewing histories"

    def __post_init__(self) -> None:
        if not 1 <= self.m <= MAX_M:
            raise ValueError(f"m must be 1 to {MAX_M}, not {self.m}")

    def describe(self) -> str:
        return (
            f"anyone who knows a person's attributes and any {self.m} of their plays finds at least {self.k} "
            "people who match"
        )


@dataclass
class TitleInfo:
    """What the cut needs to know of the title attribute's codes at its lowest level."""

    top: int  # the hierarchy's top level ("*")
    titles: np.ndarray  # per lowest code: how many distinct titles (level-0 values) it covers
    is_self: dict[int, np.ndarray]  # per level: does the code's label name exactly its own title?

    def own(self, level: np.ndarray) -> np.ndarray:
        """Per lowest code at its level in `level`: is its label exactly its own title?"""
        return at_levels(self.is_self, level)


def at_levels(per_level: dict[int, np.ndarray], level: np.ndarray) -> np.ndarray:
    """Per lowest code, its entry in `per_level[l]` for its own level l (`level[code]`): a cut
    publishes each code at a level of its own."""
    out = np.empty(len(level), dtype=next(iter(per_level.values())).dtype)
    for lv in np.unique(level):
        idx = level == lv
        out[idx] = per_level[int(lv)][idx]
    return out


@dataclass
class Cut:
    level: np.ndarray  # per lowest title code: the level it is published at
    label: np.ndarray  # per lowest title code: dense id of the published label
    labels: int


def title_cut(ft: FreqTable, title: int, base: int, k: int, info: TitleInfo, alive: np.ndarray | None = None) -> Cut:
    """Lift title labels from `base` until each is watched by >= k people and no generalized
    label stands for one title. Counted over `alive` rows (all rows when None).

    People per label are counted over every row once, at `base`; after that only over the
    rows of lifted codes. That is exact: a label lifts all its present codes at once, so a
    label still at `base` holds the same present codes, and rows, as at the start."""
    codes = ft.codes[title]
    base_code = ft.up[title][base]
    level = np.full(len(base_code), base, dtype=np.int64)
    rows = slice(None) if alive is None else alive
    pid, row_code = ft.pid[rows], codes[rows]
    present = np.zeros(len(level), dtype=bool)
    present[row_code] = True
    base_people = _distinct(base_code[row_code], pid, ft.card[title][base], ft.people)
    lifted_rows = np.zeros(0, dtype=np.int64)  # rows of codes above `base`
    while True:
        label, n = _labels(ft, title, level)
        people = np.zeros(n, dtype=np.int64)
        still = present & (level == base)
        people[label[still]] = base_people[base_code[still]]
        people += _distinct(label[row_code[lifted_rows]], pid[lifted_rows], n, ft.people)
        titles = np.bincount(label[present], weights=info.titles[present], minlength=n)
        own = info.own(level)
        single_other = (titles == 1) & ~np.bincount(label, weights=own, minlength=n).astype(bool)
        bad_label = (people < k) | single_other
        lift = bad_label[label] & (level < info.top) & present
        if not lift.any():
            return Cut(level, label, n)
        if (lift & (level == base)).any():  # codes leaving `base`: their rows join the lifted rows
            lifted_rows = np.flatnonzero(lift[row_code] | (level[row_code] > base))
        level[lift] += 1


def _labels(ft: FreqTable, title: int, level: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense id per lowest code of its label at its own level (labels of different levels differ)."""
    code_at = at_levels(ft.up[title], level)
    ids, uniques = pd.factorize(level * (max(ft.card[title].values()) + 1) + code_at)
    return ids.astype(np.int64), len(uniques)


def _distinct(group: np.ndarray, member: np.ndarray, groups: int, members: int) -> np.ndarray:
    if not len(group):
        return np.zeros(groups, dtype=np.int64)
    pairs = pd.unique(group * max(1, members) + member)
    return np.bincount(pairs // max(1, members), minlength=groups)


def item_ids(ft: FreqTable, node: tuple[int, ...], model: HistoryModel, cut: Cut) -> tuple[np.ndarray, int]:
    """Every frequency row's item: its person attributes and play attributes at the node (title by the cut)."""
    columns, cards = [], []
    for a in (*model.person, *model.play):
        if a == model.title:
            columns.append(cut.label[ft.codes[a]])
            cards.append(cut.labels)
        else:
            columns.append(ft.at(a, node[a]))
            cards.append(ft.card[a][node[a]])
    return combine(columns, cards)


@dataclass
class Histories:
    """Distinct (person, item) pairs sorted by person then item, with each person's block."""

    pid: np.ndarray
    item: np.ndarray
    items: int
    people: np.ndarray = field(init=False)
    start: np.ndarray = field(init=False)
    count: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.pid)
        if n and np.any(np.diff(self.pid * self.items + self.item) <= 0):
            order = np.lexsort((self.item, self.pid))
            self.pid, self.item = self.pid[order], self.item[order]
        self.start = np.flatnonzero(np.r_[True, self.pid[1:] != self.pid[:-1]]) if n else np.zeros(0, np.int64)
        self.count = np.diff(np.r_[self.start, n]).astype(np.int64)
        self.people = self.pid[self.start]

    @classmethod
    def of(cls, pid: np.ndarray, item: np.ndarray, items: int, mask: np.ndarray | None = None) -> Histories:
        if mask is not None:
            pid, item = pid[mask], item[mask]
        pair = unique(pid * max(1, items) + item)
        return cls(pair // max(1, items), pair % max(1, items), items)

    def support1(self) -> np.ndarray:
        """People per item."""
        return np.bincount(self.item, minlength=self.items)


@dataclass
class Pairs:
    """Every frequency row's (person, item) pair, indexed once per node: the repair works on pairs."""

    row_pair: np.ndarray  # per frequency row: its pair
    pid: np.ndarray  # per pair, sorted by person then item
    item: np.ndarray
    items: int

    @classmethod
    def of(cls, pid: np.ndarray, item: np.ndarray, items: int) -> Pairs:
        keys, row_pair = unique(pid * max(1, items) + item, return_inverse=True)
        return cls(row_pair.astype(np.int64), keys // max(1, items), keys % max(1, items), items)

    def histories(self, alive: np.ndarray) -> tuple[Histories, np.ndarray]:
        """The histories of the alive pairs, and the pair id of each of their entries."""
        ids = np.flatnonzero(alive)
        return Histories(self.pid[ids], self.item[ids], self.items), ids


def subsets(h: Histories, size: int):
    """Yield (person block index, pair-index matrix (rows, size)) for every `size`-subset of each
    person's items, people grouped by how many items they have, in bounded chunks."""
    for n in np.unique(h.count):
        if n < size:
            continue
        blocks = np.flatnonzero(h.count == n)
        combos = np.array(list(itertools.combinations(range(int(n)), size)), dtype=np.int64)
        step = max(1, 4_000_000 // max(1, len(combos) * size))
        for i in range(0, len(blocks), step):
            part = blocks[i : i + step]
            pairs = (h.start[part][:, None, None] + combos[None, :, :]).reshape(-1, size)
            yield np.repeat(part, len(combos)), pairs


def set_members(h: Histories, size: int) -> list[np.ndarray]:
    """Per member of a set, its position in `h`, for every `size`-subset of each person's items,
    in the order `subsets` yields them (people grouped by item count, combinations in
    itertools order): one array per member, written in place."""
    counts = h.count
    groups = [int(n) for n in np.unique(counts) if n >= size]
    per = {n: comb(n, size) for n in groups}
    blocks = {n: np.flatnonzero(counts == n) for n in groups}
    total = sum(per[n] * len(blocks[n]) for n in groups)
    dtype = position_type(len(h.pid))
    out = [np.empty(total, dtype=dtype) for _ in range(size)]
    at = 0
    for n in groups:
        combos = np.array(list(itertools.combinations(range(n), size)), dtype=dtype)
        starts = h.start[blocks[n]].astype(dtype)
        span = per[n] * len(starts)
        for j, column in enumerate(out):
            np.add(starts[:, None], combos[None, :, j], out=column[at : at + span].reshape(len(starts), per[n]))
        at += span
    return out


def position_type(n: int) -> type:
    """The narrowest index type for positions 0..n-1: the set enumerations hold tens of
    millions of positions (47.8M sets of two plays at one node of a 10M-event day), and int32
    halves what each pass over them reads and writes."""
    return np.int32 if n < 2**31 else np.int64


@lru_cache
def item_limit(m: int) -> int:
    """The most distinct items a person may have for their m-subsets to stay within the bound."""
    return max(n for n in range(m, 10_000) if comb(n, m) <= MAX_SUBSETS_PER_PERSON) if m > 1 else 10**9


def cap_heavy_histories(h: Histories, m: int, fixed: np.ndarray | None = None) -> np.ndarray:
    """Pairs to suppress so no person has more items than MAX_SUBSETS_PER_PERSON allows for m
    (their rarest removable items go first)."""
    limit = item_limit(m)
    heavy = np.flatnonzero(h.count > limit)
    if not len(heavy):
        return np.zeros(0, dtype=np.int64)
    support = h.support1()
    drop = []
    for b in heavy:  # few people
        idx = np.arange(h.start[b], h.start[b] + h.count[b])
        if fixed is not None:
            idx = idx[~fixed[h.item[idx]]]
        order = np.lexsort((h.item[idx], support[h.item[idx]]))
        drop.append(idx[order[: max(0, len(idx) - limit)]])
    return np.concatenate(drop)


def _csr(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverted index of `values` (ints in 0..n-1): for each value v, the positions holding it
    are order[indptr[v]:indptr[v + 1]]. A counting sort (scipy's COO to CSR), linear time. The
    arrays are scipy's own, in its index type: not copied."""
    matrix = sparse.csr_array(
        (np.ones(len(values), dtype=np.int8), (values, np.arange(len(values)))), shape=(n, len(values))
    )
    return matrix.indptr, matrix.indices


def _gather(indptr: np.ndarray, order: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Every position listed under any of `ids` in an inverted index."""
    starts, lens = indptr[ids], indptr[ids + 1] - indptr[ids]
    total = int(lens.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens)
    return order[offsets + np.arange(total)]


@lru_cache(maxsize=512)
def _combos_holding(n: int, size: int) -> np.ndarray:
    """For each of n positions, the indexes (in `itertools.combinations(range(n), size)` order,
    the order `subsets` enumerates) of the combinations holding it: an (n, C(n-1, size-1)) table."""
    combos = np.array(list(itertools.combinations(range(n), size)), dtype=np.int64)
    return np.stack([np.flatnonzero((combos == i).any(axis=1)) for i in range(n)])


class _Layout:
    """Where each history entry's sets sit among a size's set rows, by arithmetic.

    `subsets` enumerates people grouped by item count (ascending, then by person), each person's
    combinations in a fixed order; so the rows holding an entry are its person's first row plus
    a per-(count, position) table: no inverted index to build or sort."""

    def __init__(self, kept: Histories, size: int) -> None:
        counts = kept.count
        per = np.zeros(len(counts), dtype=np.int64)
        for n in np.unique(counts[counts >= size]):
            per[counts == n] = comb(int(n), size)
        order = np.lexsort((np.arange(len(counts)), counts))
        self.offset = np.empty(len(counts), dtype=np.int64)
        self.offset[order] = np.cumsum(per[order]) - per[order]
        self.order, self.per = order, per[order]  # the blocks in set-row order, and their sets
        self.size, self.kept = size, kept
        self.block = np.repeat(np.arange(len(counts)), counts)
        self._mark = np.zeros(len(self.block), dtype=bool)  # scratch flags of `rows`, False between calls

    def per_set(self, per_block: np.ndarray) -> np.ndarray:
        """A per-block value (e.g. the person's class) for every set row: one sequential write,
        where gathering it through each set's first member reads the whole enumeration."""
        return np.repeat(per_block[self.order], self.per)

    def sets_holding(self, e: np.ndarray) -> int:
        """How many set rows `rows(e)` would list at most (before removing sets listed twice)."""
        n = self.kept.count[self.block[e]]
        n = n[n >= self.size]
        return int(special.comb(n - 1, self.size - 1).sum()) if len(n) else 0

    def rows(self, e: np.ndarray) -> np.ndarray:
        """The set rows holding any of the distinct entries at positions `e` of the enumerated
        histories, each row once (a set holding two of them is listed for the first only)."""
        b = self.block[e]
        n = self.kept.count[b]
        i = e - self.kept.start[b]
        if self.size == 2:  # closed form: the pairs (j, i) for j < i, then (i, j) for j > i
            keep = n >= 2
            b, n, i, e = b[keep], n[keep], i[keep], e[keep]
            owner, t = expand(n - 1)
            b, n, i = b[owner], n[owner], i[owner]
            j = np.where(t < i, t, t + 1)
            # A pair whose other member is among `e` too is listed by the lower of the two.
            self._mark[e] = True
            once = (j > i) | ~self._mark[self.kept.start[b] + j]
            self._mark[e] = False
            b, n, i, j = b[once], n[once], i[once], j[once]
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            return self.offset[b] + lo * (2 * n - lo - 1) // 2 + (hi - lo - 1)
        out = []
        for count in np.unique(n[n >= self.size]):
            sel = n == count
            out.append((self.offset[b[sel]][:, None] + _combos_holding(int(count), self.size)[i[sel]]).ravel())
        rows = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        return pd.unique(rows) if len(rows) > 1 else rows


class _Sets:
    """One size's sets of every person's items: their members, keys and live supports.

    `columns`: each member's position in the enumerated histories (the layout's); `key` the columns and
    cardinalities whose combination identifies a set's items; `to_entry` maps positions to
    the repair's entries and `to_position` back (None: the same). `live`: the sets the repair
    checks (all when None); the others (sets of an earlier night's items only, or of entries
    absent at this node) stay in place, never live, never counted."""

    def __init__(
        self,
        columns: list[np.ndarray],
        key: tuple[list[np.ndarray], list[int]],
        layout: _Layout,
        live: np.ndarray | None = None,
        to_entry: np.ndarray | None = None,
        to_position: np.ndarray | None = None,
    ) -> None:
        self.columns = columns
        self.layout = layout
        self.to_entry, self.to_position = to_entry, to_position
        self.key, n = combine(*key)  # the same id for the same set of items
        self.live = np.ones(len(self), dtype=bool) if live is None else live
        self.support = np.bincount(self.key if live is None else self.key[live], minlength=n)
        self.pending = np.ones(n, dtype=bool)  # keys whose support may have fallen below k
        self._by_key = None
        self._scans = 0

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def members(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The repair's entries of set rows (meaningful for live rows only)."""
        pairs = np.stack([c[rows] for c in self.columns], axis=-1)
        return pairs if self.to_entry is None else self.to_entry[pairs]

    @property
    def by_key(self):
        """Inverted index key -> set rows (built once the first scans are used up)."""
        if self._by_key is None:
            self._by_key = _csr(self.key, len(self.support))
        return self._by_key

    def remove(self, removed: np.ndarray) -> None:
        """The pairs `removed` left their people: their sets die and supports drop."""
        if not len(self) or not len(removed):
            return
        positions = removed if self.to_position is None else self.to_position[removed]
        if self.layout.sets_holding(positions) > SWEEP_ABOVE * len(self):
            # Most sets are touched: one sweep over every set's members is cheaper than listing them.
            gone = np.zeros(len(self.layout.block), dtype=bool)
            gone[positions] = True
            hit = gone[self.columns[0]]
            for column in self.columns[1:]:
                hit |= gone[column]
            rows = np.flatnonzero(hit & self.live)
        else:
            rows = self.layout.rows(positions)
            rows = rows[self.live[rows]]  # each row once: a set that lost two items dies once
        self.live[rows] = False
        np.subtract.at(self.support, self.key[rows], 1)
        self.pending[self.key[rows]] = True

    def violating(self, k: int) -> np.ndarray:
        """Live set rows whose set is held by fewer than k people (among the keys to recheck)."""
        if not len(self):
            return np.zeros(0, dtype=np.int64)
        keys = np.flatnonzero(self.pending & (self.support < k) & (self.support > 0))
        self.pending[:] = False
        if not len(keys):
            return keys
        if self._by_key is None and self._scans < SCANS_BEFORE_INDEX:
            # A scan of the keys costs a few ms; the inverted index about ten scans: most
            # repairs end within a few rounds, so scan first.
            self._scans += 1
            bad = np.zeros(len(self.support), dtype=bool)
            bad[keys] = True
            return np.flatnonzero(bad[self.key] & self.live)
        rows = _gather(*self.by_key, keys)
        return rows[self.live[rows]]


@dataclass
class Enumeration:
    """Every person's sets of 2..m items over all (person, play item) pairs of one play-level
    combination, with their layouts: the same at every node with those play levels (a node's
    items are the play items labelled with the person's class, one class per person), so it is
    built once and each node only marks which sets are present and keys them."""

    h: Histories  # over all pairs: positions are pair ids
    columns: list[list[np.ndarray]]  # per size 2..m, each member's positions (one array per member)
    layouts: list[_Layout]
    play_key: list[tuple[np.ndarray, int]] = field(init=False)  # per size, each set's play items' id

    def __post_init__(self) -> None:
        self.play_key = [self._play_key(c) for c in self.columns]

    def _play_key(self, members: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """Each set's play items as one id. The plain mixed-radix key when a node's person
        class still fits in front of it (a node keys its sets by both, and factorizes once
        there), else dense ids (a factorization here, and one at each node)."""
        items = max(1, self.h.items)
        span = items ** len(members)
        classes = sparse_limit(len(self.h.count))  # the most person class ids `combine` gives people
        if span * classes >= INT64_SAFE:
            return combine([self.h.item[m] for m in members], [items] * len(members))
        # Gathered from a copy of the items in the key's own type (int32 when it fits).
        item = self.h.item.astype(position_type(span), copy=False)
        key = item[members[0]]  # a new array: the gather copies
        for m in members[1:]:
            key *= items
            key += item[m]
        return key, span

    @classmethod
    def of(cls, h: Histories, m: int) -> Enumeration | None:
        """None when someone has more items than the enumeration bound allows (a node then
        caps them on its own pairs)."""
        if len(h.count) and int(h.count.max()) > item_limit(m):
            return None
        columns = [set_members(h, size) for size in range(2, m + 1)]
        return cls(h, columns, [_Layout(h, size) for size in range(2, m + 1)])


class Repair:
    """The greedy repair of one set of histories, incremental.

    Each person's sets of 2..m items are enumerated and keyed once. Removing an item from a
    person only lowers supports, so a round updates just the sets that lost an item, and only
    their keys are checked again. Single items below k go first (every valid release removes
    them); otherwise, at the smallest size with a violating set, each such set loses its rarest
    item (fewest people; ties by item id): together a hitting set of the violating sets.

    `fixed`: items that may not be removed (earlier nights of the epoch, already published);
    sets made only of fixed items are not checked (they were when published).
    """

    def __init__(
        self,
        h: Histories,
        k: int,
        m: int,
        fixed: np.ndarray | None = None,
        shared: tuple[Enumeration, np.ndarray, np.ndarray, int] | None = None,
    ) -> None:
        """`shared`: (an enumeration over all (person, play item) pairs, each entry's pair id in
        it, each person's class at this node and the number of classes): `h` must then be the
        histories of those pairs, in pair order, items being (class, play item), with no earlier
        nights' items. Its sets are the enumeration's whose pairs are all present, keyed by
        (class, play items): a person's items share the class, so these are the same sets."""
        self.h, self.k, self.m = h, k, m
        self.fixed = np.zeros(h.items, dtype=bool) if fixed is None else fixed
        self.alive = np.ones(len(h.item), dtype=bool)
        self.support = h.support1()
        self.sets: list[_Sets] = []
        if shared is not None:
            enum, pair_of, person_class, classes = shared
            present = np.zeros(len(enum.h.item), dtype=bool)
            present[pair_of] = True
            entry_of = np.cumsum(present) - 1
            for columns, layout, (play_key, play_keys) in zip(enum.columns, enum.layouts, enum.play_key, strict=True):
                live = present[columns[0]]
                for column in columns[1:]:
                    live &= present[column]
                key = ([layout.per_set(person_class[enum.h.people]), play_key], [classes, play_keys])
                self.sets.append(_Sets(columns, key, layout, live, entry_of, pair_of))
        else:
            capped = cap_heavy_histories(h, m, self.fixed)
            self.alive[capped] = False
            np.subtract.at(self.support, h.item[capped], 1)
            kept = Histories(h.pid[self.alive], h.item[self.alive], h.items)
            back = np.flatnonzero(self.alive)
            to_kept = np.cumsum(self.alive) - 1
            for size in range(2, m + 1):
                columns = set_members(kept, size)
                items = [h.item[back[c]] for c in columns]
                checked = None
                if len(columns[0]) and fixed is not None and self.fixed.any():
                    checked = ~np.logical_and.reduce([self.fixed[i] for i in items])
                key = (items, [h.items] * size)
                self.sets.append(_Sets(columns, key, _Layout(kept, size), checked, back, to_kept))
        self._pending = np.ones(h.items, dtype=bool)  # items whose support may have fallen below k
        self._by_item = None
        self._weights: np.ndarray | None = None
        self._removed_weight = 0.0

    def _remove(self, removed: np.ndarray) -> None:
        removed = removed[self.alive[removed]]
        self.alive[removed] = False
        items = self.h.item[removed]
        np.subtract.at(self.support, items, 1)
        self._pending[items] = True
        if self._weights is not None:
            self._removed_weight += float(self._weights[removed].sum())
        for sets in self.sets:
            sets.remove(removed)

    def _single(self) -> np.ndarray:
        """Alive entries whose item alone is held by fewer than k people (items to recheck only)."""
        bad = np.flatnonzero(self._pending & (self.support < self.k) & ~self.fixed)
        self._pending[:] = False
        if not len(bad):
            return bad
        if self._by_item is None:
            self._by_item = _csr(self.h.item, self.h.items)
        entries = _gather(*self._by_item, bad)
        return entries[self.alive[entries]]

    def drop(self, entries: np.ndarray) -> None:
        """Entries (indexes into the histories) removed from outside, e.g. by a row model."""
        self._remove(entries[entries >= 0])

    def run(self, weights: np.ndarray | None = None, budget: float | None = None) -> np.ndarray:
        """Run to the fixpoint; return the indexes (into the histories) of the pairs removed.

        With `weights` (rows per pair) and `budget`, stop once the removed pairs weigh more
        than the budget: the outcome is then partial (the caller knows it is infeasible).
        """
        k = self.k
        if weights is not None:
            self._weights = weights
            self._removed_weight = float(weights[~self.alive].sum())
        while True:
            if budget is not None and self._removed_weight > budget:
                return np.flatnonzero(~self.alive)
            single = self._single()
            if len(single):
                self._remove(single)
                continue
            for sets in self.sets:
                rows = sets.violating(k)
                if not len(rows):
                    continue
                # Per violating set, its rarest free item (fewest people; ties by item id):
                # a set always has one, since sets of fixed items only are not checked.
                self._remove(pd.unique(self._rarest(sets.members(rows))))
                break
            else:
                return np.flatnonzero(~self.alive)

    def _rarest(self, members: np.ndarray) -> np.ndarray:
        """Per row of entries (a set), the entry whose item is free, then held by the fewest
        people, then of the lowest id: the least of one composite key per entry (the items of
        a set differ, so there are no ties)."""
        item = self.h.item[members]
        people, items = int(self.support.max(initial=0)) + 1, max(1, self.h.items)
        if 2 * people * items >= INT64_SAFE:  # the composite would not fit: sort the tuples
            row = np.repeat(np.arange(len(members)), members.shape[1])
            flat = item.ravel()
            order = np.lexsort((flat, self.support[flat], self.fixed[flat], row))
            first = np.r_[True, row[order][1:] != row[order][:-1]]
            return members.ravel()[order][first]
        composite = (self.fixed[item] * people + self.support[item]) * items + item
        return members[np.arange(len(members)), composite.argmin(axis=1)]


def pair_bound(repair: Repair, weights: np.ndarray) -> float:
    """A lower bound of the rows any repair removes for pairs (m >= 2), single items aside.

    Each person holding a pair of items that fewer than k people hold must lose one of the
    two: at least the lighter one's rows. Counted once per person (the lightest such item).
    Read from a fresh repair's tables (single items below k already out)."""
    if repair.m < 2 or not len(repair.sets[0]):
        return 0.0
    sets, h = repair.sets[0], repair.h
    if (~repair.alive).any():  # not fresh: count the live pairs again
        live = sets.live.copy()
        live[live] = repair.alive[sets.members(live)].all(axis=1)
        support = np.bincount(sets.key[live], minlength=len(sets.support))
    else:
        live, support = sets.live, sets.support
    bad = np.flatnonzero(live & (support[sets.key] < repair.k))
    if not len(bad):
        return 0.0
    pairs = sets.members(bad)
    lighter = np.minimum(weights[pairs[:, 0]], weights[pairs[:, 1]])
    person = np.searchsorted(h.start, pairs[:, 0], side="right") - 1
    # The lightest per person: sort by (person, weight), take each person's first.
    order = np.lexsort((lighter, person))
    person, lighter = person[order], lighter[order]
    first = np.r_[True, person[1:] != person[:-1]]
    least = lighter[first]
    return float(least[np.isfinite(least)].sum())


def violations(h: Histories, k: int, m: int) -> np.ndarray:
    """Pairs (indexes into `h`) the repair removes to make (k, k^m) hold."""
    return Repair(h, k, m).run()


def risk(h: Histories, k: int, m: int, budget: int = 20_000_000) -> dict[str, float]:
    """Share of people an attacker who knows their attributes and m of their plays singles out
    (a match of 1) or narrows below k, at worst over which m plays they know.

    A set that singles a person out (or narrows them below k) still does when it grows: so a
    person is checked on single items first (cheap; on unprotected data that finds most), then,
    if not singled out, on sets of exactly min(m, their items), which covers every size up to
    m. At each size only the items of the people still to check matter: supports are counted
    over everyone's histories restricted to those items, which keeps them exact. A person with
    more items than the enumeration bound allows is checked on their most common items (their
    share is then a lower bound; `capped_people` says how many). When counting would exceed
    `budget` sets, what was found so far is returned (a lower bound). `exact` says whether
    neither happened.
    """
    people = len(h.count)
    if not people:
        return {"people": 0, "unique": 0.0, "below_k": 0.0, "capped_people": 0, "exact": True}
    unique = np.zeros(people, dtype=bool)
    below = np.zeros(people, dtype=bool)
    person_of_pair = np.repeat(np.arange(people), h.count)
    # Single items: exact for everyone.
    support = h.support1()[h.item]
    np.logical_or.at(unique, person_of_pair, support == 1)
    np.logical_or.at(below, person_of_pair, support < k)
    keep = np.ones(len(h.item), dtype=bool)
    capped = cap_heavy_histories(h, m)
    keep[capped] = False
    heavy = np.zeros(people, dtype=bool)
    heavy[person_of_pair[capped]] = True
    kept = np.bincount(person_of_pair[keep], minlength=people)
    exact = True
    for size in range(2, m + 1):
        todo = (np.minimum(kept, m) == size) & ~unique
        if not todo.any():
            continue
        useful = np.zeros(h.items, dtype=bool)
        useful[h.item[keep & todo[person_of_pair]]] = True
        # Counted over everyone's full histories (restricted to useful items), so supports are
        # exact; a heavy person to check is asked about sets of their kept items only.
        count = Histories(h.pid[useful[h.item]], h.item[useful[h.item]], h.items)
        mine = useful[h.item] & keep & (todo & heavy)[person_of_pair]
        asked = Histories(h.pid[mine], h.item[mine], h.items)
        if float(special.comb(count.count, size).sum() + special.comb(asked.count, size).sum()) > budget:
            exact = False  # too many sets to count: what is found so far is a lower bound
            break
        c_blocks, c_pairs = _all_subsets(count, size)
        a_blocks, a_pairs = _all_subsets(asked, size)
        columns = [np.r_[count.item[c_pairs[:, j]], asked.item[a_pairs[:, j]]] for j in range(size)]
        key, n = combine(columns, [h.items] * size)
        support = np.bincount(key[: len(c_pairs)], minlength=n)[key]
        who = np.r_[
            np.searchsorted(h.people, count.people[c_blocks]), np.searchsorted(h.people, asked.people[a_blocks])
        ]
        sel = todo[who] & np.r_[~heavy[who[: len(c_pairs)]], np.ones(len(a_pairs), dtype=bool)]
        np.logical_or.at(unique, who[sel], support[sel] == 1)
        np.logical_or.at(below, who[sel], support[sel] < k)
    n_capped = int((heavy & ~unique).sum())
    return {
        "people": people,
        "unique": round(float(unique.sum()) / people, 6),
        "below_k": round(float((below | unique).sum()) / people, 6),
        "capped_people": n_capped,
        "exact": exact and not n_capped,
    }


def _all_subsets(h: Histories, size: int) -> tuple[np.ndarray, np.ndarray]:
    parts = list(subsets(h, size))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros((0, size), dtype=np.int64)
    return np.concatenate([b for b, _ in parts]), np.concatenate([p for _, p in parts])

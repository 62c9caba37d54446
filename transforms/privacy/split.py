"""The frequency table split into what belongs to a person and what belongs to a play.

Most quasi-identifiers have one value per person (age band, gender, plan, and the location when
people do not move during the day): their codes live once per person, and a node's person class
is computed over people, not rows. The rest (device, part of day, title, ...) are per play.

This makes a node's evaluation cheaper without changing its result:
- A row class is (person class, play codes). Counting distinct people per class only needs the
  distinct (person, play codes) entries: each belongs to one person, so people per class is a
  plain count of entries. Those entries depend only on the play attributes' levels, so they are
  computed once per play-level combination and shared by every node that differs only in its
  person-level levels.
- The history model's (person, item) pairs are likewise (person, play item) pairs relabelled by
  the person's class: computed once per play-level combination (and title cut).

Everything is cached per level combination, least recently used first out, within a memory
budget (`EXPORT_ENGINE_CACHE_MB`, default 1024); the history's set enumerations have a pool of
their own, a quarter of that size (the one in use always kept), and so have a node's own arrays
(its pairs and forced rows).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from transforms.privacy.frequency import FreqTable, combine, unique

#: ((attribute, level), ...); a part (attribute, level, "cut") is labelled by the caller's
#: `relabel` instead of the hierarchy (a history's title: its cut from that level).
Parts = tuple[tuple, ...]


def cache_budget() -> int:
    """Bytes of the per-level cache (`EXPORT_ENGINE_CACHE_MB`); the history's two pools take a
    quarter of that each on top."""
    return int(os.environ.get("EXPORT_ENGINE_CACHE_MB", "1024")) * 1_000_000


@dataclass
class Entries:
    """Distinct (person, play codes) entries of the frequency table for one play-level combination."""

    of_row: np.ndarray  # per frequency row: its entry
    pid: np.ndarray  # per entry: the person
    code: np.ndarray  # per entry: the play codes' combined id
    codes: int
    sizes: np.ndarray = field(init=False)  # frequency rows per entry

    def __post_init__(self) -> None:
        self.sizes = np.bincount(self.of_row, minlength=len(self.pid)).astype(np.int32)


@dataclass
class RowClasses:
    """A node's row classes: per frequency row its class, and per entry its class."""

    of_row: np.ndarray
    n: int
    entries: Entries
    of_entry: np.ndarray
    sensitive: tuple[np.ndarray, np.ndarray] | None = None  # (class, sensitive value) pair index, for l
    # Counted once, with the classes (so the cache's budget counts them too): frequency rows
    # per class, classes with any row, people per class over all rows.
    sizes: np.ndarray = field(init=False)
    nonempty: int = field(init=False)
    everyone: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.sizes = np.bincount(self.of_row, minlength=self.n).astype(np.int32)
        self.nonempty = int(np.count_nonzero(self.sizes))
        self.everyone = np.bincount(self.of_entry, minlength=self.n).astype(np.int32)

    def people(self, alive: np.ndarray | None = None) -> np.ndarray:
        """Distinct people per class among the alive rows (all rows when None). An entry is
        one person's in its class: counted from the entries that lose all their rows when the
        dead rows are the fewer."""
        e = self.entries
        if alive is None:
            return self.everyone.astype(np.int64)
        gone = emptied(e.of_row, e.sizes, ~alive)
        if gone is None:
            present = np.bincount(e.of_row[alive], minlength=len(e.pid)) > 0
            return np.bincount(self.of_entry[present], minlength=self.n)
        return self.everyone - np.bincount(self.of_entry[gone], minlength=self.n)

    def left(self, dead: np.ndarray) -> int:
        """How many classes keep a row when the rows flagged in `dead` go. Counted from the
        dead rows when they are the fewer (a class is gone when all its rows are)."""
        gone = emptied(self.of_row, self.sizes, dead)
        if gone is None:
            return int((np.bincount(self.of_row[~dead], minlength=self.n) > 0).sum())
        return self.nonempty - len(gone)


def emptied(of_row: np.ndarray, sizes: np.ndarray, dead: np.ndarray) -> np.ndarray | None:
    """The groups (`of_row`: each row's group; `sizes`: rows per group) all of whose rows are
    flagged in `dead`, counted from the dead rows; None when those are the majority (counting
    the alive rows is then the cheaper way)."""
    gone = of_row[dead]
    if 2 * len(gone) > len(of_row):
        return None
    ids, counts = _counts(gone, len(sizes))
    return ids[counts == sizes[ids]]


def _counts(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values among `values` (ints in 0..n-1) and how often each occurs: by a
    counting array when it is not much longer than `values`, else by a sort."""
    if n <= 4 * len(values):
        counts = np.bincount(values, minlength=n)
        ids = np.flatnonzero(counts)
        return ids, counts[ids]
    return np.unique(values, return_counts=True)


class Split:
    def __init__(self, ft: FreqTable, relabel: Callable[[int, int], tuple[np.ndarray, int]] | None = None) -> None:
        self.ft = ft
        self.relabel = relabel
        n = len(ft)
        if n and np.any(np.diff(ft.pid) < 0):
            raise RuntimeError("internal check failed: the frequency table is not in person order")
        first = np.flatnonzero(np.r_[True, ft.pid[1:] != ft.pid[:-1]]) if n else np.zeros(0, dtype=np.int64)
        if n and not np.array_equal(ft.pid[first], np.arange(ft.people)):
            raise RuntimeError("internal check failed: person indexes are not dense")
        same = ft.pid[1:] == ft.pid[:-1]
        self.person_level = [not np.any(same & (c[1:] != c[:-1])) for c in ft.codes]
        self.person_codes = {i: c[first] for i, c in enumerate(ft.codes) if self.person_level[i]}
        budget = cache_budget()
        self._levels = _Lru(budget)
        # The history's set enumerations are large (tens of bytes per set): a pool of their own
        # (a quarter of the budget, the latest always kept), so they never push the level arrays out.
        self._sets = _Lru(budget // 4, room_first=True)
        # A node's own arrays (its (person, item) pairs, its forced rows): another quarter. Nodes
        # seldom share them, so a small pool costs a few rebuilds and saves holding a dozen.
        self._nodes = _Lru(budget // 4)

    def _cached(self, key: tuple, make: Callable[[], object]):
        return self._levels.get(key, make)

    def divide(self, parts: Parts) -> tuple[Parts, Parts]:
        """(person-level parts, play-level parts)."""
        return (
            tuple(p for p in parts if self.person_level[p[0]]),
            tuple(p for p in parts if not self.person_level[p[0]]),
        )

    def labels(self, part: tuple) -> tuple[np.ndarray, int]:
        """Per lowest code of the part's attribute, its label id, and how many ids there are."""
        i, lvl = part[0], part[1]
        if len(part) > 2:
            if self.relabel is None:
                raise RuntimeError(f"internal check failed: no relabelling for part {part}")
            return self.relabel(i, lvl)
        return self.ft.up[i][lvl], self.ft.card[i][lvl]

    def person_classes(self, parts: Parts) -> tuple[np.ndarray, int]:
        """Per person: the id of their combination of person-level attributes at these levels."""
        ft = self.ft

        def make():
            if not parts:
                return np.zeros(ft.people, dtype=np.int64), 1
            labels = [self.labels(p) for p in parts]
            return combine(
                [label[self.person_codes[p[0]]] for p, (label, _) in zip(parts, labels, strict=True)],
                [n for _, n in labels],
            )

        return self._cached(("person", parts), make)

    def entries(self, parts: Parts) -> Entries:
        """The distinct (person, play codes) entries for play-level `parts`."""
        ft = self.ft

        def make():
            if not parts:
                code, codes = np.zeros(len(ft), dtype=np.int64), 1
            else:
                labels = [self.labels(p) for p in parts]
                code, codes = combine(
                    [label[ft.codes[p[0]]] for p, (label, _) in zip(parts, labels, strict=True)],
                    [n for _, n in labels],
                )
            uniques, of_row = unique(ft.pid * max(1, codes) + code, return_inverse=True)
            return Entries(of_row, uniques // max(1, codes), uniques % max(1, codes), max(1, codes))

        return self._cached(("entries", parts), make)

    def row_classes(self, parts: Parts) -> RowClasses:
        """The row classes of attributes at levels `parts` (all person-level and play-level ones)."""

        def make():
            person, play = self.divide(parts)
            pc, n_pc = self.person_classes(person)
            e = self.entries(play)
            of_entry, n = combine([pc[e.pid], e.code], [n_pc, e.codes])
            return RowClasses(of_entry[e.of_row], n, e, of_entry)

        return self._cached(("classes", parts), make)

    def cached(self, key: tuple, make: Callable[[], object]):
        """Any other per-level-combination array, under the same budget."""
        return self._cached(("other", *key), make)

    def cached_sets(self, key: tuple, make: Callable[[], object]):
        """A set enumeration per play-level combination, in its own pool."""
        return self._sets.get(key, make)

    def cached_node(self, key: tuple, make: Callable[[], object]):
        """A node's own arrays, in their own pool."""
        return self._nodes.get(key, make)


class _Lru:
    """Values by key within a byte budget, least recently used out first; the newest value is
    kept even when it alone exceeds the budget (it is in use).

    `room_first`: for values of one kind and about one size (the set enumerations), make room
    before building a value, taking the last one built as its size; otherwise the old value
    and the new one are both held while the new one is built (2 GB at 10M events)."""

    def __init__(self, budget: int, room_first: bool = False) -> None:
        self.budget = budget
        self.bytes = 0
        self.items: OrderedDict = OrderedDict()
        self._expect = 0 if room_first else None

    def get(self, key: tuple, make: Callable[[], object]):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key][0]
        if self._expect is not None:
            self._shrink(self._expect)
        value = make()
        size = _nbytes(value)
        self._shrink(size)
        self.items[key] = (value, size)
        self.bytes += size
        if self._expect is not None:
            self._expect = size
        return value

    def _shrink(self, size: int) -> None:
        """Least recently used out until `size` more bytes fit (or nothing is left)."""
        while self.items and self.bytes + size > self.budget:
            _, (_, old) = self.items.popitem(last=False)
            self.bytes -= old


def _nbytes(value, top: bool = True) -> int:
    """Bytes a cached value holds; the entries a node's row classes share are cached, and
    counted, on their own."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if not top and isinstance(value, Entries):
        return 0
    if isinstance(value, tuple | list):
        return sum(_nbytes(v, False) for v in value)
    if hasattr(value, "__dict__"):
        return sum(_nbytes(v, False) for v in vars(value).values())
    return 64

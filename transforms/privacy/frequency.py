"""The frequency table in memory: the only input the search reads.

The engine builds it once (one SQL statement over the rows, kept as an engine table, counted,
then read in person order): one row per distinct (person, label code of every attribute at its
lowest allowed level), with the number of rows (plays) it stands for. Hierarchies nest, so a
row's code at any higher level, and that label's Loss cost, follow from its lowest code through
small mapping arrays (`up`, `cost`). Evaluating a node of the lattice is then a few vectorized
passes over these arrays, whatever the number of raw rows; Python never holds a row object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.backends import Backend, sql
from transforms.context import Views

INT64_SAFE = 1 << 62


@dataclass
class FreqTable:
    pid: np.ndarray  # person index 0..people-1 per row
    codes: list[np.ndarray]  # per attribute: label code at its lowest allowed level
    rows: np.ndarray  # rows (plays) each frequency row stands for
    sens: np.ndarray | None  # dense code of the sensitive value, when one is set
    lowest: list[int]  # per attribute: its lowest allowed level
    up: list[dict[int, np.ndarray]]  # per attribute and level: lowest code -> code at that level
    cost: list[dict[int, np.ndarray]]  # per attribute and level: lowest code -> Loss cost of its label
    card: list[dict[int, int]]  # per attribute and level: number of codes
    people: int

    @property
    def total_rows(self) -> int:
        return int(self.rows.sum())

    def __len__(self) -> int:
        return len(self.pid)

    def at(self, attribute: int, level: int) -> np.ndarray:
        """Every row's code of `attribute` at `level`."""
        return self.up[attribute][level][self.codes[attribute]]

    def person_level(self, attribute: int) -> bool:
        """True when the attribute has one code per person (age band, gender, plan)."""
        order = np.lexsort((self.codes[attribute], self.pid))
        pid, code = self.pid[order], self.codes[attribute][order]
        same_person = pid[1:] == pid[:-1]
        return not np.any(same_person & (code[1:] != code[:-1]))


def build(
    backend: Backend,
    source: str,
    person: str,
    attributes: list,
    sensitive: str | None = None,
    admit: Callable[[int], None] | None = None,
) -> tuple[FreqTable, str]:
    """Read the frequency table of `source` into memory; also leave `people` (pid -> person) on the backend.

    `attributes`: the engine's Attribute list (column, hierarchy, levels). `admit`: called with
    the table's number of rows before it is read (it raises to refuse). Returns the table and
    the name of the backend table that maps pid to the person column.
    """
    backend.run(sql("freq_people", source=source, person=person))
    # Kept by the engine (DuckDB spills it; Spark writes it as files) and counted before this
    # process holds any of it: `admit` may refuse a table too large for this worker.
    backend.materialize(
        Views.FREQ, sql("freq_codes", source=source, person=person, attributes=attributes, sensitive=sensitive)
    )
    if admit is not None:
        admit(int(backend.scalar(sql("count_rows", table=Views.FREQ)) or 0))
    table = backend.fetch(sql("select_all", table=Views.FREQ, ordered=True), large=True)
    backend.drop(Views.FREQ)
    pid = table.column("pid").to_numpy().astype(np.int64)
    codes = [table.column(f"a{i}").to_numpy().astype(np.int64) for i in range(len(attributes))]
    rows = table.column("rows").to_numpy().astype(np.int64)
    sens = None
    if sensitive:
        sens = pd.factorize(table.column("sens").to_pandas(), use_na_sentinel=False)[0].astype(np.int64)
    up, cost, card = [], [], []
    for a in attributes:
        lo, hi = a.levels
        maps = backend.fetch(sql("level_maps", column=a.column, lowest=lo, levels=list(range(lo, hi + 1))))
        n = maps.num_rows
        code = maps.column("code").to_numpy()
        if not np.array_equal(code, np.arange(n)):
            raise RuntimeError(f"internal check failed: codes of {a.column} at level {lo} are not dense")
        up.append({lvl: maps.column(f"up{lvl}").to_numpy().astype(np.int64) for lvl in range(lo, hi + 1)})
        cost.append({lvl: maps.column(f"cost{lvl}").to_numpy().astype(np.float64) for lvl in range(lo, hi + 1)})
        card.append({lvl: int(up[-1][lvl].max()) + 1 if n else 0 for lvl in range(lo, hi + 1)})
    people = int(pid.max()) + 1 if len(pid) else 0
    ft = FreqTable(pid, codes, rows, sens, [a.levels[0] for a in attributes], up, cost, card, people)
    return ft, "people"


def sparse_limit(rows: int) -> int:
    """The largest span `combine` keeps as a plain mixed-radix key for `rows` rows (counting
    arrays of that size stay cheap); past it, ids are factorized."""
    return max(4 * rows, 1 << 20)


def combine(columns: list[np.ndarray], cards: list[int], dense: bool = False) -> tuple[np.ndarray, int]:
    """Ids (0..n-1) of the rows' combinations of `columns`, and n. Exact: never hashes a value
    into a smaller space. The ids are the mixed-radix key itself when its span is small enough
    for counting arrays (ids may then be unused); else, or with `dense`, factorized to 0..n-1."""
    if not columns:
        return np.zeros(0, dtype=np.int64), 1
    key = columns[0].astype(np.int64)
    span = max(1, cards[0])
    for col, card in zip(columns[1:], cards[1:], strict=True):
        card = max(1, card)
        if span * card >= INT64_SAFE:  # keep the mixed-radix key in range: re-densify first
            key, uniques = pd.factorize(key)
            span = max(1, len(uniques))
        key = key * card + col
        span *= card
    if not dense and span <= sparse_limit(len(key)):
        return key, span
    ids, uniques = pd.factorize(key)
    return ids.astype(np.int64), len(uniques)


def unique(key: np.ndarray, return_inverse: bool = False):
    """`np.unique(key[, return_inverse=True])` for int64 keys, by a stable sort: it runs in about
    linear time on keys that are already nearly in order (a frequency table's keys, which lead
    with the person), where np.unique's quicksort does not (measured: 8M keys in person order,
    0.65 s against 1.4 s with the inverse)."""
    key = np.asarray(key, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    new = np.empty(len(ordered), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    uniques = ordered[new]
    if not return_inverse:
        return uniques
    rank = np.cumsum(new)
    rank -= 1
    inverse = np.empty(len(key), dtype=np.int64)
    inverse[order] = rank
    return uniques, inverse


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For consecutive groups of `counts[g]` elements: each element's group and its position
    within the group (0..counts[g]-1)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, within


def distinct_per_group(group: np.ndarray, member: np.ndarray, groups: int, members: int, mask=None) -> np.ndarray:
    """For each group id, how many distinct members it holds (e.g. people per class)."""
    if mask is not None:
        group, member = group[mask], member[mask]
    if not len(group):
        return np.zeros(groups, dtype=np.int64)
    pairs = pd.unique(group.astype(np.int64) * max(1, members) + member)
    return np.bincount(pairs // max(1, members), minlength=groups)

"""The frequency table's helpers: `unique` must be np.unique exactly, on any order of keys."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.privacy.frequency import unique


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), max_size=60), st.booleans())
def test_unique_is_numpys_unique(values, in_order):
    key = np.array(sorted(values) if in_order else values, dtype=np.int64)
    expected, expected_inverse = np.unique(key, return_inverse=True)
    got, inverse = unique(key, return_inverse=True)
    assert got.dtype == np.int64 and inverse.dtype == np.int64
    assert np.array_equal(got, expected)
    assert np.array_equal(inverse, expected_inverse.ravel())
    assert np.array_equal(unique(key), expected)


def test_unique_on_person_ordered_keys():
    # The shape it is used on: keys leading with a person, each person's items in any order.
    pid = np.repeat(np.arange(5), [3, 1, 4, 2, 2])
    item = np.array([7, 2, 7, 5, 9, 1, 9, 3, 4, 4, 8, 0])
    got, inverse = unique(pid * 10 + item, return_inverse=True)
    assert got.tolist() == [2, 7, 15, 21, 23, 29, 34, 40, 48]
    assert inverse.tolist() == [1, 0, 1, 2, 5, 3, 5, 4, 6, 6, 8, 7]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), max_size=40), st.integers(0, 3))
def test_classes_left_after_suppression(rows, unused):
    # Classes that keep a row, counted from the dead rows (few) or the alive ones (many): the
    # same as counting the classes among the alive rows directly. Some class ids hold no row.
    from transforms.privacy.split import RowClasses

    of_row = np.array([c for c, _ in rows], dtype=np.int64)
    dead = np.array([d for _, d in rows], dtype=bool)
    classes = RowClasses(of_row, 7 + unused, None, np.zeros(0, dtype=np.int64))
    expected = len(set(of_row[~dead].tolist()))
    assert classes.left(dead) == expected
    assert classes.left(~dead) == len(set(of_row[dead].tolist()))  # cached sizes, the other side


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.booleans()), min_size=1, max_size=40))
def test_people_per_class_after_suppression(rows):
    # People per class among alive rows, counted from the entries that lose every row (few
    # dead rows) or from the alive rows (many): both equal a direct count. Entry value e belongs
    # to person e // 2 and class e % 3.
    from transforms.privacy.split import Entries, RowClasses

    values, of_row = np.unique([e for e, _ in rows], return_inverse=True)  # every entry has a row
    alive = np.array([a for _, a in rows], dtype=bool)
    entries = Entries(of_row, values // 2, np.zeros(len(values), dtype=np.int64), 1)
    of_entry = values % 3
    classes = RowClasses(of_entry[of_row], 4, entries, of_entry)
    for mask in (alive, ~alive, None):
        kept = values[of_row if mask is None else of_row[mask]]
        expected = [len({int(e) for e in kept if e % 3 == c}) for c in range(4)]
        assert classes.people(mask).tolist() == expected


def test_counts_by_array_or_by_sort():
    from transforms.privacy.split import _counts

    values = np.array([5, 2, 5, 9, 2, 5])
    for n in (10, 1000):  # a counting array of 10; a sort when 1000 would be wasteful
        ids, counts = _counts(values, n)
        assert ids.tolist() == [2, 5, 9] and counts.tolist() == [2, 3, 1]
    ids, counts = _counts(np.zeros(0, dtype=np.int64), 1000)
    assert len(ids) == 0 and len(counts) == 0


def test_the_level_cache_keeps_its_budget_and_the_newest_value():
    from transforms.privacy.split import _Lru

    lru = _Lru(budget=250)
    a = lru.get(("a",), lambda: np.zeros(100, dtype=np.uint8))
    lru.get(("b",), lambda: np.zeros(100, dtype=np.uint8))
    assert lru.get(("a",), lambda: None) is a  # a hit, and now the most recent
    lru.get(("c",), lambda: np.zeros(100, dtype=np.uint8))  # b goes, the least recently used
    assert list(lru.items) == [("a",), ("c",)] and lru.bytes == 200
    lru.get(("big",), lambda: np.zeros(1000, dtype=np.uint8))  # alone over the budget: kept
    assert list(lru.items) == [("big",)] and lru.bytes == 1000


def test_a_pool_that_makes_room_first_never_holds_the_old_value_while_building():
    from transforms.privacy.split import _Lru

    for room_first, held in [(True, []), (False, [("a",)])]:
        lru = _Lru(budget=150, room_first=room_first)
        lru.get(("a",), lambda: np.zeros(100, dtype=np.uint8))
        seen = []

        def make(lru=lru, seen=seen):
            seen.extend(lru.items)
            return np.zeros(100, dtype=np.uint8)

        lru.get(("b",), make)
        assert seen == held
        assert list(lru.items) == [("b",)] and lru.bytes == 100

"""The history repair built from a node's own pairs and from its play levels' shared enumeration
(models/history.Enumeration) removes the same pairs and gives the same pair bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.privacy.models import history as hist


def _node(seed: int, people: int, play_items: int, classes: int, absent: float):
    """Random (person, play item) pairs, each person's class, and which pairs the node keeps."""
    rng = np.random.default_rng(seed)
    most = min(7, play_items)
    pairs = {(p, i) for p in range(people) for i in rng.choice(play_items, rng.integers(1, most + 1), replace=False)}
    pid, play = (np.array(c, dtype=np.int64) for c in zip(*sorted(pairs), strict=True))
    person_class = rng.integers(0, classes, people)
    present = rng.random(len(pid)) >= absent
    return pid, play, person_class, present


#: A random node for `_node`: seed, people, play items, person classes.
NODE = (st.integers(0, 10**6), st.integers(2, 60), st.integers(2, 12), st.integers(1, 4))
#: k and m of a repair.
K_M = (st.integers(2, 6), st.integers(2, 3))


@settings(max_examples=120, deadline=None)
@given(*NODE, st.sampled_from([0.0, 0.2, 0.5]), *K_M)
def test_shared_enumeration_repairs_like_the_nodes_own(seed, people, play_items, classes, absent, k, m):
    pid, play, person_class, present = _node(seed, people, play_items, classes, absent)
    ids = np.flatnonzero(present)
    item = person_class[pid] * play_items + play  # the node's items: (class, play item)
    own = hist.Repair(hist.Histories(pid[ids], item[ids], classes * play_items), k, m)
    enum = hist.Enumeration.of(hist.Histories(pid, play, play_items), m)
    assert enum is not None
    shared = hist.Repair(
        hist.Histories(pid[ids], item[ids], classes * play_items), k, m, shared=(enum, ids, person_class, classes)
    )
    weights = np.random.default_rng(seed + 1).integers(1, 9, len(ids)).astype(float)
    assert hist.pair_bound(own, weights) == hist.pair_bound(shared, weights)
    assert np.array_equal(np.sort(own.run()), np.sort(shared.run()))


def test_the_sets_are_keyed_by_class_and_play_items():
    # Two people in the same class with the same two play items share the set: support 2.
    pid = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
    play = np.array([3, 5, 3, 5, 3, 5], dtype=np.int64)
    person_class = np.array([0, 0, 1])
    ids = np.arange(6)
    item = person_class[pid] * 6 + play
    enum = hist.Enumeration.of(hist.Histories(pid, play, 6), 2)
    repair = hist.Repair(hist.Histories(pid, item, 12), 2, 2, shared=(enum, ids, person_class, 2))
    sets = repair.sets[0]
    assert sorted(sets.support[sets.key].tolist()) == [1, 2, 2]
    # Person 2 is alone in class 1: both of their plays go (each single item is held by 1 person).
    assert sorted(repair.run().tolist()) == [4, 5]


def test_someone_over_the_enumeration_bound_falls_back_to_the_nodes_own_pairs():
    n = hist.item_limit(2) + 1
    h = hist.Histories(np.zeros(n, dtype=np.int64), np.arange(n, dtype=np.int64), n)
    assert hist.Enumeration.of(h, 2) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=30), st.integers(2, 3), st.integers(0, 10**6))
def test_the_layout_finds_exactly_the_sets_holding_an_entry(counts, size, seed):
    pid = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    item = np.concatenate([np.arange(c) for c in counts]).astype(np.int64)
    h = hist.Histories(pid, item, 10)
    _, pairs = hist._all_subsets(h, size)
    layout = hist._Layout(h, size)
    entries = np.random.default_rng(seed).choice(len(pid), min(len(pid), 5), replace=False)
    expected = np.flatnonzero(np.isin(pairs, entries).any(axis=1))
    rows = layout.rows(entries)
    assert len(np.unique(rows)) == len(rows)  # each set once, even when it holds two of them
    assert np.array_equal(np.sort(rows), expected)
    # The enumeration writes the same sets, member by member, in the same order.
    assert np.array_equal(np.stack(hist.set_members(h, size), axis=1).reshape(-1, size), pairs)


@settings(max_examples=80, deadline=None)
@given(*NODE, *K_M)
def test_sweeping_every_set_or_listing_the_touched_ones_repairs_alike(seed, people, play_items, classes, k, m):
    pid, play, person_class, _ = _node(seed, people, play_items, classes, 0.0)
    item = person_class[pid] * play_items + play
    outcomes = []
    for share in (0.0, float("inf")):  # always sweep, never sweep
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(hist, "SWEEP_ABOVE", share)
            repair = hist.Repair(hist.Histories(pid, item, classes * play_items), k, m)
            outcomes.append((np.sort(repair.run()), [s.support.copy() for s in repair.sets]))
    (swept, swept_support), (listed, listed_support) = outcomes
    assert np.array_equal(swept, listed)
    assert all(np.array_equal(a, b) for a, b in zip(swept_support, listed_support, strict=True))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 9), max_size=50), st.lists(st.integers(0, 9), max_size=5))
def test_inverted_index_lists_each_values_positions(values, asked):
    # The repair's inverted index (a counting sort) and its lookup: every position holding any
    # asked value (distinct values), value by value, positions in order.
    v = np.array(values, dtype=np.int64)
    ask = np.array(sorted(set(asked)), dtype=np.int64)
    indptr, order = hist._csr(v, 10)
    expected = [i for a in ask for i, x in enumerate(values) if x == a]
    assert hist._gather(indptr, order, ask).tolist() == expected


@settings(max_examples=120, deadline=None)
@given(*NODE, *K_M)
def test_the_pair_bound_never_exceeds_what_the_repair_removes(seed, people, play_items, classes, k, m):
    """Any release removes one entry of every pair below k: the repair's is one, so its
    removed weight is at least the bound, whatever the weights."""
    pid, play, person_class, _ = _node(seed, people, play_items, classes, 0.0)
    item = person_class[pid] * play_items + play
    weights = np.random.default_rng(seed + 2).integers(1, 50, len(pid)).astype(float)
    repair = hist.Repair(hist.Histories(pid, item, classes * play_items), k, m)
    bound = hist.pair_bound(repair, weights)
    assert bound <= weights[repair.run()].sum()

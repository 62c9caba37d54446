"""The history risk measure (models/history.risk) against brute force on small random histories."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.privacy.models import history as hist


def brute_force(histories: dict[int, set[int]], k: int, m: int) -> tuple[float, float]:
    """Share of people some set of at most m of their items singles out, and narrows below k."""
    unique = below = 0
    for items in histories.values():
        supports = [
            sum(1 for other in histories.values() if set(s) <= other)
            for size in range(1, m + 1)
            for s in itertools.combinations(sorted(items), size)
        ]
        unique += any(n == 1 for n in supports)
        below += any(n < k for n in supports)
    return unique / len(histories), below / len(histories)


def as_histories(histories: dict[int, set[int]], items: int) -> hist.Histories:
    pid = np.array([p for p, s in histories.items() for _ in s], dtype=np.int64)
    item = np.array([i for s in histories.values() for i in sorted(s)], dtype=np.int64)
    return hist.Histories(pid, item, items)


people = st.dictionaries(
    st.integers(0, 40), st.sets(st.integers(0, 11), min_size=1, max_size=7), min_size=1, max_size=25
)


@settings(max_examples=150, deadline=None)
@given(people, st.integers(1, 3), st.integers(2, 5))
def test_risk_equals_brute_force(histories, m, k):
    got = hist.risk(as_histories(histories, 12), k, m)
    unique, below = brute_force(histories, k, m)
    assert got["exact"]
    assert got["unique"] == round(unique, 6)
    assert got["below_k"] == round(below, 6)


@settings(max_examples=60, deadline=None)
@given(people, st.integers(2, 3))
def test_an_over_budget_count_is_a_lower_bound_and_says_so(histories, m):
    unique, below = brute_force(histories, 3, m)
    got = hist.risk(as_histories(histories, 12), 3, m, budget=3)  # room for 3 sets only
    assert got["unique"] <= round(unique, 6) and got["below_k"] <= round(below, 6)
    if got["exact"]:
        assert (got["unique"], got["below_k"]) == (round(unique, 6), round(below, 6))


def test_heavy_histories_are_checked_on_their_common_items_and_flagged(monkeypatch):
    monkeypatch.setattr(hist, "MAX_SUBSETS_PER_PERSON", 3)  # at m = 2: at most 3 items per person
    hist.item_limit.cache_clear()
    try:
        # Person 0 has 5 items; {3, 4} is theirs alone, but 3 and 4 are their rarest: capped away.
        histories = {0: {0, 1, 2, 3, 4}, 1: {0, 1, 3}, 2: {0, 2, 4}, 3: {1, 2}}
        got = hist.risk(as_histories(histories, 5), 2, 2)
        unique, _ = brute_force(histories, 2, 2)
        assert unique == 0.25 and got["unique"] == 0.0
        assert got["capped_people"] == 1 and got["exact"] is False
    finally:
        hist.item_limit.cache_clear()

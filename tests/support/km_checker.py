"""An independent checker of (k, k^m)-anonymity, written apart from the engine.

Reads published rows (plain dicts) and enumerates, with itertools, every subset of at most m of
each person's items (their published person attributes plus one play's published attributes,
and the night when several nights are checked together). Every subset some person holds must be
held by at least k people. Brute force on purpose: small data only.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable


def histories(rows: Iterable[dict], person: str, attributes: list[str], night: str | None = None) -> dict:
    out: dict[str, set[tuple]] = defaultdict(set)
    for row in rows:
        item = tuple(row[a] for a in attributes)
        out[row[person]].add(((row[night],) if night else ()) + item)
    return out


def violations(
    rows: Iterable[dict], person: str, attributes: list[str], k: int, m: int, night: str | None = None
) -> list[tuple[str, tuple]]:
    """(person, subset) pairs whose subset fewer than k people hold."""
    hist = histories(rows, person, attributes, night)
    support: Counter = Counter()
    for items in hist.values():
        for size in range(1, m + 1):
            support.update(itertools.combinations(sorted(items), size))
    return [
        (who, subset)
        for who, items in hist.items()
        for size in range(1, m + 1)
        for subset in itertools.combinations(sorted(items), size)
        if support[subset] < k
    ]


def singled_out_share(rows: Iterable[dict], person: str, attributes: list[str], m: int, k: int = 2) -> float:
    """Share of people whom some set of min(m, their items) of their items matches with fewer
    than k people (k=2: singled out)."""
    hist = histories(rows, person, attributes)
    support: Counter = Counter()
    for items in hist.values():
        for size in range(1, m + 1):
            support.update(itertools.combinations(sorted(items), size))
    hit = sum(
        1
        for items in hist.values()
        if any(support[s] < k for s in itertools.combinations(sorted(items), min(m, len(items))))
    )
    return hit / max(1, len(hist))

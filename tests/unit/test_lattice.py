"""The pure lattice search: the exact optimum of any monotone problem, with fewer evaluations."""

from __future__ import annotations

import itertools
import random

import pytest

from transforms.privacy.lattice import Evaluation, below, search


def synthetic(ranges, seed):
    """A random problem with the properties the search relies on.

    Cost grows with each level (a monotone bound holds); feasibility is monotone (an
    up-closed set: everything above some random minimal nodes).
    """
    rnd = random.Random(seed)
    nodes = list(itertools.product(*(range(lo, hi + 1) for lo, hi in ranges)))
    weights = [[rnd.random() for _ in range(hi + 1)] for lo, hi in ranges]
    for w in weights:
        w.sort()
    minimal = rnd.sample(nodes, k=3)
    feasible = {n for n in nodes if any(below(m, n) for m in minimal)}

    def generalization(n):
        return sum(weights[i][lvl] for i, lvl in enumerate(n)) / len(n)

    def evaluate(n, best=None):
        # Suppression adds cost on top of generalization (never lowers it).
        extra = 0.0 if n in feasible else 0.5
        return Evaluation(n, n in feasible, 0, generalization(n) + extra * 0.1, 1)

    bound = {n: generalization(n) for n in nodes}
    expected = min((evaluate(n).loss, n) for n in feasible)
    return bound, evaluate, expected, len(nodes)


@pytest.mark.parametrize("seed", range(25))
def test_search_returns_the_brute_force_optimum(seed):
    ranges = [(0, 3), (0, 2), (1, 4), (0, 1)]
    bound, evaluate, (loss, _node), size = synthetic(ranges, seed)
    result = search(ranges, bound, evaluate)
    assert result.best is not None and result.best.feasible
    assert result.best.loss == pytest.approx(loss, abs=1e-12)
    assert result.lattice_size == size


def test_search_prunes():
    ranges = [(0, 3), (0, 2), (1, 4), (0, 1)]
    evaluated = [search(ranges, *synthetic(ranges, seed)[:2]).evaluated for seed in range(25)]
    assert max(evaluated) < 4 * 3 * 4 * 2 and sum(evaluated) / len(evaluated) < 0.6 * 96


def test_a_feasible_preferred_node_is_kept_without_search():
    ranges = [(0, 2), (0, 2)]
    bound = {n: sum(n) / 4 for n in itertools.product(range(3), range(3))}
    calls = []

    def evaluate(n, best=None):
        calls.append(n)
        return Evaluation(n, True, 0, bound[n], 1)

    result = search(ranges, bound, evaluate, preferred=(2, 1))
    assert result.kept_preferred and result.best.levels == (2, 1) and calls == [(2, 1)]


def test_nothing_feasible_returns_none():
    ranges = [(0, 1), (0, 1)]
    bound = {n: 0.0 for n in itertools.product(range(2), range(2))}
    result = search(ranges, bound, lambda n, best: Evaluation(n, False, 0, 1.0, 0))
    assert result.best is None
    # The lowest-bound node (0, 0) first, then the most general (1, 1): infeasible, so the
    # two nodes left, both below it, are skipped unevaluated.
    assert [e.levels for e in result.trace] == [(0, 0), (1, 1)]
    assert result.evaluated == 2 and result.skipped_by_monotonicity == 2


def test_a_bound_only_evaluation_is_never_chosen_but_an_infeasible_bound_prunes():
    """An evaluator may return a lower bound (exact=False): it can rule nodes out, never be picked."""
    ranges = [(0, 2), (0, 2)]
    bound = {n: sum(n) / 4 for n in itertools.product(range(3), range(3))}

    def evaluate(n, best):
        if n == (0, 0):  # a bound that looks best, but is only a bound
            return Evaluation(n, True, 0, 0.0, 1, exact=False)
        if n == (1, 0):  # a bound that proves it infeasible: (0, 0) is below it, but was seen first
            return Evaluation(n, False, 10, 0.2, 1, exact=False)
        return Evaluation(n, True, 0, bound[n] + 0.1, 1)

    result = search(ranges, bound, evaluate)
    assert result.best.exact and result.best.levels == (0, 1)

"""The DP core: contribution bounds give the sensitivity, OpenDP's plan charges what its map
says, and the noise drawn has the scale the budget buys.

OpenDP draws from its own CSPRNG and offers no seed, so the noise tests are statistical, with
fixed tolerances and enough draws that a false failure is out of reach (each is computed below).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import opendp.prelude as odp
import pytest

from transforms.errors import PrivacyError
from transforms.privacy import dp

odp.enable_features("contrib")


def _measurement(scale: float):
    """The measurement as OpenDP builds it, independently of the module's own cache."""
    space = odp.vector_domain(odp.atom_domain(T="i64")), odp.l2_distance(T="f64")
    return odp.m.make_gaussian(*space, scale=scale)


def _bounded_vectors(plays: dict[tuple[str, int], int], titles: int, max_titles: int, max_plays: int):
    """What the SQL bounding does, on a tiny dict: each person keeps at most `max_titles` titles
    (lowest title ids first) and at most `max_plays` plays per title. Returns the per-title
    distinct-viewer and play-count vectors."""
    viewers, counts = np.zeros(titles, dtype=np.int64), np.zeros(titles, dtype=np.int64)
    for person in sorted({p for p, _ in plays}):
        kept = sorted(t for p, t in plays if p == person)[:max_titles]
        for title in kept:
            viewers[title] += 1
            counts[title] += min(plays[(person, title)], max_plays)
    return viewers, counts


def test_a_heavy_viewer_moves_each_count_by_at_most_the_bound():
    titles, max_titles, max_plays = 12, 3, 4
    others = {(f"p{i}", (i * 5) % titles): 1 + i % 3 for i in range(30)}
    heavy = {("heavy", 0): 500, **{("heavy", t): 40 for t in range(1, 10)}}
    without = _bounded_vectors(others, titles, max_titles, max_plays)
    with_heavy = _bounded_vectors({**others, **heavy}, titles, max_titles, max_plays)
    for before, after, per_cell in zip(without, with_heavy, (1, max_plays), strict=True):
        diff = after - before
        assert np.abs(diff).max() <= per_cell  # 500 plays move a count by at most the cap
        assert np.count_nonzero(diff) <= max_titles
        assert math.sqrt(int((diff**2).sum())) <= dp.l2_sensitivity(max_titles, per_cell)
    assert np.abs(with_heavy[1] - without[1]).max() == max_plays  # the bound is reached, not loose


def test_l2_sensitivity_is_exact_or_rounded_up_to_the_next_float():
    assert dp.l2_sensitivity(4, 3) == 6.0
    assert dp.l2_sensitivity(1, 86_400) == 86_400.0
    for cells, per_cell in [(3, 2), (2, 1), (7, 3600), (31, 1)]:
        s = dp.l2_sensitivity(cells, per_cell)
        exact = cells * per_cell**2
        assert Fraction(s) ** 2 >= exact  # never below the true sensitivity
        assert Fraction(math.nextafter(s, 0)) ** 2 < exact  # and the tightest float that is
    with pytest.raises(ValueError):
        dp.l2_sensitivity(0, 1)


@pytest.mark.parametrize(("rho", "cells", "per_cell"), [(0.02, 3, 2), (1e-4, 1, 1), (0.5, 31, 86_400)])
def test_the_plan_charges_exactly_what_opendp_maps_for_the_sensitivity(rho, cells, per_cell):
    sensitivity = dp.l2_sensitivity(cells, per_cell)
    plan = dp.plan(rho, sensitivity)
    assert plan.sensitivity == sensitivity
    assert plan.rho == float(_measurement(plan.scale).map(sensitivity))
    assert plan.rho <= rho
    assert plan.rho == pytest.approx(rho, rel=1e-9)  # the search is tight: no budget left unused
    assert plan.scale == pytest.approx(sensitivity / math.sqrt(2 * rho), rel=1e-9)  # rho = (Δ/σ)²/2
    assert plan.to_dict() == {"rho": plan.rho, "sensitivity": sensitivity, "scale": plan.scale}


def test_release_refuses_a_scale_the_budget_does_not_cover_before_drawing():
    plan = dp.plan(0.02, dp.l2_sensitivity(3, 2))
    with pytest.raises(PrivacyError, match="no noise was drawn"):
        dp.release(np.zeros(3, dtype=np.int64), plan.scale / 2, plan.sensitivity, plan.rho)
    with pytest.raises(PrivacyError):
        dp.release(np.zeros(3, dtype=np.int64), plan.scale, plan.sensitivity * 2, plan.rho)
    with pytest.raises(TypeError):
        dp.release(np.zeros(3, dtype=np.float64), plan.scale, plan.sensitivity, plan.rho)


def test_release_keeps_shape_and_integer_type():
    plan = dp.plan(0.5, 1.0)
    values = np.arange(6, dtype=np.int32).reshape(2, 3) * 1000
    noisy = dp.release(values, plan.scale, plan.sensitivity, plan.rho)
    assert noisy.dtype == np.int64 and noisy.shape == (2, 3)
    assert np.abs(noisy - values).max() < 50  # scale 1: a deviation of 50 has probability ~e^-1250


def _discrete_gaussian_pmf(scale: float, support: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(-support, support + 1)
    weights = np.exp(-(k.astype(float) ** 2) / (2 * scale**2))
    return k, weights / weights.sum()


def test_the_noise_scale_matches_the_budget():
    # rho 0.02 for a person changing 3 cells by up to 2: scale = sqrt(12) / sqrt(0.04) ≈ 17.32.
    plan = dp.plan(0.02, dp.l2_sensitivity(3, 2))
    releases, cells = 4000, 5
    draws = np.concatenate(
        [dp.release(np.zeros(cells, dtype=np.int64), plan.scale, plan.sensitivity, plan.rho) for _ in range(releases)]
    )
    assert draws.size == 20_000  # independent draws; at this scale their variance is σ² to double precision
    assert len(np.unique(draws)) > 50

    # Std within 5% of the plan's scale. (n-1)s²/σ² ~ χ²(n-1) (kurtosis 3.000 at this scale):
    # P[|s/σ - 1| > 0.05] = P[χ² < 0.9025(n-1)] + P[χ² > 1.1025(n-1)] ≈ 2.0e-23.
    assert abs(draws.std(ddof=1) / plan.scale - 1) < 0.05
    # Mean within 1.0 of 0: 1.0 is 8.2 standard errors (σ/√n = 0.122): P ≈ 3.2e-16.
    assert abs(draws.mean()) < 1.0

    # accuracy95 is OpenDP's: P[|noise| >= a] <= 5%, and it is the tightest such integer.
    a = dp.accuracy95(plan.scale)
    assert a == float(odp.discrete_gaussian_scale_to_accuracy(plan.scale, alpha=0.05))
    k, pmf = _discrete_gaussian_pmf(plan.scale, 2000)
    inside = pmf[np.abs(k) < a].sum()  # 0.9536 for a = 35
    assert inside >= 0.95 > pmf[np.abs(k) < a - 1].sum()
    # Empirical share inside within 0.01 of the exact one: 0.01 is 6.7 binomial standard errors
    # (√(p(1-p)/n) = 0.0015): P ≈ 1.7e-11. All three checks together flake with P < 2e-11.
    assert abs(np.mean(np.abs(draws) < a) - inside) < 0.01


def test_a_split_never_charges_more_than_the_nightly_rho():
    sensitivities = {"viewers": dp.l2_sensitivity(5, 1), "plays": dp.l2_sensitivity(5, 3), "hours": 5e4}
    for nightly in (0.1, 1 / 3, 7e-3, 1 / 30, 2.0):
        shares = dp.split(nightly, {"viewers": 2, "plays": 1, "hours": 1})
        assert math.fsum(shares.values()) <= nightly
        assert shares["viewers"] == pytest.approx(nightly / 2) and shares["plays"] == pytest.approx(nightly / 4)
        plans, total = dp.plan_night(nightly, {m: (shares[m], sensitivities[m]) for m in shares})
        assert sum(Fraction(p.rho) for p in plans.values()) <= Fraction(total) <= Fraction(nightly)
        assert total == pytest.approx(nightly, rel=1e-9)
    with pytest.raises(PrivacyError, match="above the night's rho"):
        dp.plan_night(0.1, {"viewers": (0.08, 1.0), "plays": (0.05, 2.0)})
    with pytest.raises(ValueError):
        dp.split(0.1, {"viewers": 0})


def test_epsilon_is_opendps_conversion_of_rho():
    for rho in (0.01, 0.1, 1.0):
        eps = dp.epsilon(rho, 1e-6)
        # Tighter than the classic bound rho + 2√(rho·ln(1/δ)), looser than rho itself.
        assert rho < eps < rho + 2 * math.sqrt(rho * math.log(1e6))
    assert dp.epsilon(0.1, 1e-6) < dp.epsilon(0.2, 1e-6)
    assert dp.epsilon(0.1, 1e-9) > dp.epsilon(0.1, 1e-6)


def test_window_pairs_past_the_window_go_with_a_crashed_runs_partial_copy(tmp_path):
    """The window's (person, title) pairs are private: a partial file a crashed run left
    before its rename holds the same pairs and goes with them."""
    from datetime import date
    from pathlib import Path

    from transforms.config.policy import load_policy
    from transforms.context import Layout
    from transforms.exports.dp.protect import purge_state

    policy = load_policy(Path(__file__).parents[2] / "policies" / "title_audience_dp.yaml")
    layout = Layout(tmp_path / "out", tmp_path / "work")
    window = layout.dp_root(policy.export) / "window"
    window.mkdir(parents=True)
    old, kept = "day=2026-01-01.key=k1.parquet", "day=2026-03-01.key=k1.parquet"
    for name in (old, f".{old}.run-1", kept, f".{kept}.run-2"):
        (window / name).write_bytes(b"pairs")
    assert purge_state(layout, policy, date(2026, 3, 2)) == 2
    assert sorted(p.name for p in window.iterdir()) == sorted([kept, f".{kept}.run-2"])

"""Differentially private counts and sums: OpenDP's discrete Gaussian, accounted in zCDP (rho).

The privacy unit is the person. The caller bounds each person's contribution before calling
here (titles per night, plays and watch time per title: done in SQL), so a vector of exact
integer aggregates changes in at most `cells` entries, each by at most `per_cell`, when one
person is added or removed. Its L2 sensitivity is then sqrt(cells) * per_cell
(`l2_sensitivity`). Everything below is a small pure function over numbers and numpy arrays:

* `plan(rho, sensitivity)` asks OpenDP for the smallest noise scale whose measurement charges
  at most `rho` for that sensitivity, and returns the rho OpenDP actually charges (`map`);
* `plan_night` / `split` share a night's rho among measures and check the total;
* `release` adds the noise (OpenDP's `make_gaussian` on an integer vector samples the discrete
  Gaussian exactly, with OpenDP's CSPRNG: no seed exists, none is taken);
* `accuracy95` and `epsilon` turn a scale or a rho into what a reader of the release needs.

OpenDP does the mechanisms and the accounting; nothing here draws noise itself. Nothing here
logs either: the values are exact aggregates of personal data until noise is added.

The vector's index (which titles, countries) must not depend on the private data, or the set of
keys leaks presence: release every key of the public catalogue, zeros included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any

import numpy as np

from transforms.errors import PrivacyError

#: A split leaves this relative share of the night's rho unused, so float rounding of the
#: shares can never add up to more than the night's rho (1e-12 of a budget is nothing).
_SPLIT_MARGIN = 1e-12


@cache
def _opendp() -> Any:
    """OpenDP's prelude, with the one optional feature this module needs enabled (once).

    "contrib": OpenDP gates components whose privacy proofs are written but not yet through its
    vetting process behind this flag; `make_gaussian` and `make_zCDP_to_approxDP` are among
    them. No other flag is enabled: not "idealized-numerics" (the data are integers, so no
    floating-point attack surface is accepted) and not "honest-but-curious" (no user-defined
    privacy maps). Imported lazily: the CLI and the other layers do not pay for loading the
    library unless a DP release is made.
    """
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@lru_cache(maxsize=64)
def _gaussian(scale: float) -> Any:
    """The measurement: discrete Gaussian noise of `scale` on a vector of i64, L2 input distance,
    zCDP output measure. Its `map(d_in)` is the rho charged for an L2 sensitivity `d_in`."""
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="f64")
    return dp.m.make_gaussian(*space, scale=scale, MO="ZeroConcentratedDivergence")


@dataclass(frozen=True)
class Plan:
    """One measure's noise: what OpenDP will add and what it charges."""

    rho: float  # zCDP cost charged: exactly the measurement's map(sensitivity)
    sensitivity: float  # L2 sensitivity of the measure's vector (per person)
    scale: float  # discrete Gaussian scale (sigma of the kernel exp(-x^2 / (2 sigma^2)))

    def to_dict(self) -> dict[str, float]:
        """JSON-able summary (for the budget ledger's reservation)."""
        return {"rho": self.rho, "sensitivity": self.sensitivity, "scale": self.scale}


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def l2_sensitivity(cells: int, per_cell: int) -> float:
    """L2 sensitivity of an integer vector in which one person changes at most `cells` entries
    by at most `per_cell` each: sqrt(cells) * per_cell, rounded up to the next float when not
    exact (a sensitivity rounded down would undercharge).

    Examples: distinct viewers per title with at most T titles per person per night: (T, 1);
    plays per title capped at c per person and title: (T, c); watch seconds capped at s: (T, s);
    distinct viewers over the last N nights: (N * T, 1) unless the SQL caps titles over N nights;
    viewers on each of the last N nights: (T, 1), a person counts once per title.
    """
    if cells < 1 or per_cell < 1:
        raise ValueError(f"cells and per_cell must be >= 1, got {cells} and {per_cell}")
    squared = int(cells) * int(per_cell) ** 2
    root = math.sqrt(squared)
    if Fraction(root) ** 2 < squared:  # math.sqrt is correctly rounded: one step up suffices
        root = math.nextafter(root, math.inf)
    return root


def plan(rho: float, sensitivity: float) -> Plan:
    """The smallest discrete Gaussian scale whose measurement charges at most `rho` (zCDP) when
    one person moves the vector by `sensitivity` (L2), found by OpenDP's binary search over the
    measurement's privacy check; the rho returned is the measurement's own `map(sensitivity)`.
    """
    rho, sensitivity = _positive("rho", rho), _positive("sensitivity", sensitivity)
    dp = _opendp()
    guess = sensitivity / math.sqrt(2 * rho)  # rho = (sensitivity / scale)^2 / 2, before rounding
    scale = dp.binary_search_param(_gaussian, d_in=sensitivity, d_out=rho, bounds=(guess / 2, guess * 2), T=float)
    charged = float(_gaussian(scale).map(sensitivity))
    if not charged <= rho:  # binary_search_param guarantees it; checked because budgets depend on it
        raise PrivacyError(f"OpenDP charged rho={charged!r} above the requested {rho!r}; no noise was drawn")
    return Plan(rho=charged, sensitivity=sensitivity, scale=scale)


def split(nightly_rho: float, weights: Mapping[str, float]) -> dict[str, float]:
    """Share a night's rho among measures in proportion to `weights` (a tiny margin is kept, so
    the shares never add up to more than `nightly_rho` after float rounding)."""
    nightly_rho = _positive("nightly rho", nightly_rho)
    if not weights:
        raise ValueError("no measure to share the nightly rho among")
    checked = {name: _positive(f"weight of {name}", w) for name, w in weights.items()}
    total = math.fsum(checked.values())
    return {name: nightly_rho * (w / total) * (1 - _SPLIT_MARGIN) for name, w in checked.items()}


def plan_night(nightly_rho: float, measures: Mapping[str, tuple[float, float]]) -> tuple[dict[str, Plan], float]:
    """Plans for a night's measures, given each one's (rho, sensitivity), and the night's total
    rho as charged by OpenDP (zCDP composes by addition), rounded up to a float.

    Raises PrivacyError, before any noise, if the total exceeds `nightly_rho`."""
    nightly_rho = _positive("nightly rho", nightly_rho)
    plans = {name: plan(rho, sensitivity) for name, (rho, sensitivity) in measures.items()}
    exact = sum((Fraction(p.rho) for p in plans.values()), Fraction(0))
    total = float(exact)
    if Fraction(total) < exact:
        total = math.nextafter(total, math.inf)
    if total > nightly_rho:
        raise PrivacyError(
            f"the measures charge rho={total!r} in total, above the night's rho={nightly_rho!r}; "
            "lower the measures' shares (use split) so they add up to at most the night's rho"
        )
    return plans, total


def release(values: np.ndarray, scale: float, sensitivity: float, rho: float) -> np.ndarray:
    """Add discrete Gaussian noise of `scale` to every cell of the integer array `values` (any
    shape, one measurement over all cells) with OpenDP; returns int64 of the same shape.

    First checks, with the measurement's own privacy map, that this scale charges at most `rho`
    for `sensitivity`; raises PrivacyError (and draws nothing) otherwise. Noisy values may be
    negative: clamping them at zero, or turning seconds into hours, afterwards is
    post-processing and costs no privacy.
    """
    values = np.asarray(values)
    if values.dtype.kind not in "iu" or not np.can_cast(values.dtype, np.int64):
        raise TypeError(f"values must be an array of integers that fit int64, got {values.dtype}")
    sensitivity, rho = _positive("sensitivity", sensitivity), _positive("rho", rho)
    measurement = _gaussian(_positive("scale", scale))
    charged = float(measurement.map(sensitivity))
    if not charged <= rho:
        raise PrivacyError(
            f"noise scale {scale!r} charges rho={charged!r} for sensitivity {sensitivity!r}, above the "
            f"planned rho={rho!r}; no noise was drawn (use plan() to get the scale)"
        )
    flat = values.astype(np.int64, copy=False).ravel().tolist()
    noisy = measurement(flat)
    return np.asarray(noisy, dtype=np.int64).reshape(values.shape)


def accuracy(scale: float, alpha: float) -> float:
    """The error bound at level `alpha` of discrete Gaussian noise of `scale`, by OpenDP:
    P[|noise| >= accuracy] <= alpha (so |noise| < accuracy with probability >= 1 - alpha)."""
    return float(_opendp().discrete_gaussian_scale_to_accuracy(_positive("scale", scale), alpha=float(alpha)))


def accuracy95(scale: float) -> float:
    """The 95% error bound: |noisy - exact| < accuracy95(scale) with probability >= 95%."""
    return accuracy(scale, 0.05)


def epsilon(rho: float, delta: float) -> float:
    """The epsilon of (epsilon, delta)-DP that rho-zCDP implies, for reporting, by OpenDP's
    zCDP -> approximate-DP conversion (`make_zCDP_to_approxDP`).

    The conversion depends on rho alone; OpenDP applies it to a measurement, so a Gaussian
    measurement is built whose map gives (at least, by rounding up) exactly `rho`."""
    rho, delta = _positive("rho", rho), float(delta)
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    dp = _opendp()
    carrier = dp.m.make_gaussian(dp.atom_domain(T="i64"), dp.absolute_distance(T="f64"), scale=1.0)
    d_in = math.nextafter(math.sqrt(2 * rho), math.inf)  # map(d_in) = d_in^2 / 2 >= rho
    if not float(carrier.map(d_in)) >= rho:  # would understate epsilon
        raise PrivacyError(f"could not represent rho={rho!r} for the conversion to (epsilon, delta)")
    profile = dp.c.make_zCDP_to_approxDP(carrier).map(d_in)
    return float(profile.epsilon(delta))

"""Numbers into intervals: ages into bands, hours into parts of the day, seconds into buckets."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Hashable
from typing import Literal

from pydantic import Field, model_validator

from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec

UNKNOWN = "unknown"


class IntervalLevel(Spec):
    name: str
    bounds: list[float] = Field(min_length=1)
    labels: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> IntervalLevel:
        if any(b2 <= b1 for b1, b2 in zip(self.bounds, self.bounds[1:], strict=False)):
            raise ValueError(f"level {self.name!r}: bounds must be strictly increasing")
        if self.labels is not None and len(self.labels) != len(self.bounds):
            raise ValueError(
                f"level {self.name!r}: {len(self.labels)} labels for {len(self.bounds)} bounds; "
                "give one label per bound (the interval starting at it)"
            )
        return self


class IntervalsSpec(Spec):
    type: Literal["intervals"]
    levels: list[IntervalLevel] = Field(min_length=1)

    def build(self, resolve: Resolver) -> Hierarchy:
        return IntervalsOperator(self)

    def merged_below(self, limit: float) -> IntervalsSpec:
        """The same levels with every bound at or below `limit` removed: the values under `limit`
        then share the lowest band with values above it, at every level (the minors rule)."""
        levels = []
        for lvl in self.levels:
            keep = [i for i, b in enumerate(lvl.bounds) if b > limit]
            if not keep:
                raise ValueError(
                    f"level {lvl.name!r} has no bound above {_num(limit)}: add one (e.g. 18) so that "
                    "minors share a band with older people"
                )
            labels = [lvl.labels[i] for i in keep] if lvl.labels is not None else None
            levels.append(IntervalLevel(name=lvl.name, bounds=[lvl.bounds[i] for i in keep], labels=labels))
        return IntervalsSpec(type="intervals", levels=levels)

    def lowest_band(self) -> str:
        """The label of values below the first bound (the same at every level once merged)."""
        return f"<{_num(self.levels[0].bounds[0])}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def interval_labels(bounds: list[float], labels: list[str] | None) -> list[str]:
    """Label of each interval [b_i, b_i+1); integer bounds read as inclusive ranges."""
    if labels is not None:
        return list(labels)
    out = []
    for i, lo in enumerate(bounds):
        if i + 1 < len(bounds):
            hi = bounds[i + 1]
            upper = _num(hi - 1) if float(lo).is_integer() and float(hi).is_integer() else _num(hi)
            out.append(f"{_num(lo)}-{upper}")
        else:
            out.append(f"{_num(lo)}+")
    return out


class IntervalsOperator(Hierarchy):
    def __init__(self, spec: IntervalsSpec) -> None:
        self.spec = spec
        self.level_names = ["value", *(lvl.name for lvl in spec.levels), TOP]
        self._labels = [interval_labels(lvl.bounds, lvl.labels) for lvl in spec.levels]

    def labels(self, value: Hashable) -> list[str]:
        if value is None:
            return [UNKNOWN] * (self.height - 1) + [TOP]
        v = float(value)  # type: ignore[arg-type]
        out = [_num(v)]
        for lvl, names in zip(self.spec.levels, self._labels, strict=True):
            i = bisect_right(lvl.bounds, v) - 1
            out.append(f"<{_num(lvl.bounds[0])}" if i < 0 else names[i])
        out.append(TOP)
        return out

    def explain(self, level: int) -> str:
        if level == 0:
            return "the exact value (whole numbers)"
        if level == self.height - 1:
            return super().explain(level)
        lvl = self.spec.levels[level - 1]
        names = self._labels[level - 1]
        # Below the first bound only when it can happen (no negative hours or seconds).
        parts = [f"<{_num(lvl.bounds[0])}"] if lvl.bounds[0] > 0 else []
        for i, lo in enumerate(lvl.bounds):
            hi = lvl.bounds[i + 1] if i + 1 < len(lvl.bounds) else None
            span = (
                f"{_num(lo)}+" if hi is None else f"{_num(lo)}-{_num(hi - 1) if float(hi).is_integer() else _num(hi)}"
            )
            # A label that is only numbers says its range itself; a name (`night`, `<1m`) gets it.
            parts.append(names[i] if re.fullmatch(r"[0-9.+<-]+", names[i]) else f"{names[i]} ({span})")
        return ", ".join(parts)

    def domain(self, level: int) -> list[str] | None:
        if level == 0:
            return None
        if level == self.height - 1:
            return [TOP]
        lvl = self.spec.levels[level - 1]
        return [f"<{_num(lvl.bounds[0])}", *self._labels[level - 1], UNKNOWN]

"""Numbers into intervals: ages into bands, hours into parts of the day, seconds into buckets."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable

from transforms.hierarchies.base import TOP, Hierarchy
from transforms.policy import IntervalsHierarchy

UNKNOWN = "unknown"


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
    def __init__(self, spec: IntervalsHierarchy) -> None:
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

    def domain(self, level: int) -> list[str] | None:
        if level == 0:
            return None
        if level == self.height - 1:
            return [TOP]
        lvl = self.spec.levels[level - 1]
        return [f"<{_num(lvl.bounds[0])}", *self._labels[level - 1], UNKNOWN]

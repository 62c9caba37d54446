"""Information-loss and risk measures, each defined once (ARX's conventions).

- Loss: per attribute, a label covering m of the n leaves costs (m-1)/(n-1); a suppressed
  value costs 1; the mean over attributes and rows.
- Precision: a value at level L of a hierarchy of height h costs L/(h-1); suppressed = 1.
- Discernibility: sum over kept classes of rows squared, plus suppressed rows x all rows.
- Prosecutor risk: 1 / people of a record's class (highest, and the row average).
"""

from __future__ import annotations

import numpy as np

from transforms.backends import Backend, sql

DESCRIPTION = (
    "loss: ARX Loss, mean over attributes of (m-1)/(n-1), suppressed = 1; precision: mean level/(height-1), "
    "suppressed = 1; discernibility: sum of class rows squared + suppressed rows x input rows; risk: prosecutor "
    "risk 1/people of the class (highest, row average)"
)


def precision_cost(level: int, height: int) -> float:
    """Precision cost of one value published at `level` of a hierarchy with `height` levels."""
    return level / max(1, height - 1)


def node_precision(levels: list[int], heights: list[int]) -> float:
    """Mean precision cost of a node's levels (no suppression)."""
    return sum(precision_cost(lvl, h) for lvl, h in zip(levels, heights, strict=True)) / len(levels)


def precision(levels: list[int], heights: list[int], rows: int, suppressed: int) -> float:
    """Precision of a release: kept rows at the node's cost, suppressed rows at 1."""
    return node_precision(levels, heights) * (rows - suppressed) / max(1, rows) + suppressed / max(1, rows)


def discernibility(kept_squares: float, suppressed: int, rows: int) -> float:
    return float(kept_squares) + suppressed * rows


def objective_loss(kept_cost: float, suppressed: int, weight: float, rows: int) -> float:
    """ARX Loss of a node: kept rows' summed (weighted) costs, suppressed rows at the full
    `weight` (the attributes' total weight: their count when unweighted), over all rows."""
    return (kept_cost + suppressed * weight) / (weight * rows) if rows else 1.0


def prosecutor_risk(people: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Highest and row-average prosecutor risk over classes with their people and rows."""
    kept = people > 0
    if not kept.any():
        return {"highest": 0.0, "average": 0.0}
    highest = float((1.0 / people[kept]).max())
    average = float((rows[kept] / people[kept]).sum() / rows[kept].sum())
    return {"highest": round(highest, 6), "average": round(average, 6)}


def class_histogram(people: np.ndarray, k: int) -> dict[str, int]:
    """Classes by size in people: k, up to 2k, up to 5k, up to 10k, more."""
    bands = [(k, k), (k + 1, 2 * k), (2 * k + 1, 5 * k), (5 * k + 1, 10 * k)]
    out = {f"{lo}" if lo == hi else f"{lo}-{hi}": int(((people >= lo) & (people <= hi)).sum()) for lo, hi in bands}
    out[f">{10 * k}"] = int((people > 10 * k).sum())
    return out


def l_diversity(backend: Backend, view: str, attributes: list[str], sensitive: str) -> dict[str, object]:
    """Smallest distinct-l and entropy-l of `sensitive` over the combinations of `view` (published rows)."""
    row = backend.fetch(sql("l_diversity", source=view, attributes=attributes, sensitive=sensitive)).to_pylist()[0]
    return {
        "attribute": sensitive,
        "distinct_l": int(row["distinct_l"] or 0),
        "entropy_l": round(float(row["entropy_l"] or 0), 4),
    }

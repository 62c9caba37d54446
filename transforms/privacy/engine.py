"""The privacy engine: choose levels, mark the classes to suppress, measure the release.

One engine for the nightly export and for `python -m transforms anonymize` (any CSV). It
works on a source view with one row per record: the person, `<attribute>_id` per
quasi-identifier (ids into the lookups `lk_<attribute>`), and optionally a sensitive column.

1. `solve`: build the frequency table once (one row per person and label codes at every
   allowed level), then run the exact lattice search, evaluating a node as a GROUP BY over it.
2. `apply`: label the rows at the chosen levels (`labelled`) and judge each combination
   against the privacy models (`classes`, with `small` for those to suppress).
3. `measure`: the counts and measures the manifest and reports show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transforms.backends import Backend, sql
from transforms.privacy import lattice, metrics
from transforms.privacy.hierarchies import Hierarchy
from transforms.privacy.models import KAnonymity, LDiversity, Model, params, violated_sql

log = logging.getLogger(__name__)

METRICS = ("loss", "precision", "discernibility")
UNITS = ("rows", "people")


@dataclass(frozen=True)
class Attribute:
    """One quasi-identifier as the engine sees it."""

    column: str
    hierarchy: Hierarchy
    levels: tuple[int, int]  # lowest and highest level the search may choose


@dataclass(frozen=True)
class Problem:
    source: str
    person: str
    attributes: list[Attribute]
    k: int
    suppression_limit: float
    unit: str = "rows"  # what the limit counts: rows, or people with any row suppressed
    metric: str = "loss"
    sensitive: str | None = None  # a column of the source, for l-diversity
    l: int = 0  # noqa: E741 (enforce distinct l-diversity of `sensitive` when >= 2)
    carry: tuple[str, ...] = ()  # source columns kept in `labelled` (published besides the attributes)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; use {', '.join(METRICS)}")
        if self.unit not in UNITS:
            raise ValueError(f"unknown suppression unit {self.unit!r}; use rows or people")
        if self.l and not self.sensitive:
            raise ValueError("l-diversity needs a sensitive column")

    @property
    def models(self) -> list[Model]:
        out: list[Model] = [KAnonymity(self.k)]
        if self.l:
            out.append(LDiversity(self.l, self.sensitive or ""))
        return out

    @property
    def columns(self) -> list[str]:
        return [a.column for a in self.attributes]

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return [a.levels for a in self.attributes]

    @property
    def heights(self) -> list[int]:
        return [a.hierarchy.height for a in self.attributes]


@dataclass
class Measures:
    """What a release looks like: counts, class sizes, information loss and risk."""

    input_rows: int
    input_people: int
    published_rows: int
    published_people: int
    suppressed_rows: int
    people_with_suppressed_rows: int
    classes: int
    min_class_people: int
    avg_class_people: float
    loss: float
    precision: float
    discernibility: float
    risk_before: dict[str, float] = field(default_factory=dict)
    risk_after: dict[str, float] = field(default_factory=dict)
    class_size_histogram: dict[str, int] = field(default_factory=dict)
    loss_by_attribute: dict[str, float] = field(default_factory=dict)


class Engine:
    def __init__(self, backend: Backend, problem: Problem) -> None:
        self.b = backend
        self.p = problem

    # 1. choose levels -------------------------------------------------------------------
    def solve(self, preferred: lattice.Node | None = None) -> lattice.SearchResult:
        p = self.p
        self.b.run(sql("frequency_table", source=p.source, person=p.person, attributes=p.attributes,
                       sensitive=p.sensitive if p.l else None))  # fmt: skip
        rows = int(self.b.scalar(sql("count_rows", table="freq")) or 0)
        log.info("engine: frequency table has %d rows (distinct combinations x people)", rows)
        gen = self._generalization_costs()
        q = len(p.attributes)
        bound = {n: sum(gen[i][lvl] for i, lvl in enumerate(n)) / q for n in lattice.nodes_of(p.ranges)}
        return lattice.search(p.ranges, bound, lambda node: self._evaluate(node, bound), preferred)

    def _generalization_costs(self) -> list[dict[int, float]]:
        """Per attribute and level, a lower bound of its mean cost in any release at that level."""
        p = self.p
        if p.metric == "discernibility":
            # No bound before evaluation; after evaluating N, the squares of all its classes
            # bound every node above N (classes only grow, suppression costs all rows per row).
            return [dict.fromkeys(range(lo, hi + 1), 0.0) for lo, hi in p.ranges]
        if p.metric == "precision":
            return [
                {lvl: metrics.precision_cost(lvl, h) for lvl in range(lo, hi + 1)}
                for (lo, hi), h in zip(p.ranges, p.heights, strict=True)
            ]
        keys = [(a.column, lvl) for a in p.attributes for lvl in range(a.levels[0], a.levels[1] + 1)]
        row = self.b.fetch(sql("generalization_loss", keys=keys)).to_pylist()[0]
        total = float(row["total"] or 1)
        out: list[dict[int, float]] = [{} for _ in p.attributes]
        names = [a.column for a in p.attributes]
        for i, (column, level) in enumerate(keys):
            out[names.index(column)][level] = float(row[f"v{i}"]) / total
        return out

    def _evaluate(self, node: lattice.Node, bound: dict[lattice.Node, float]) -> lattice.Evaluation:
        p = self.p
        chosen = list(zip(p.columns, node, strict=True))
        r = self.b.fetch(
            sql("evaluate_node", params(p.models), chosen=chosen, diversity=bool(p.l),
                count_people=p.unit == "people", violated=violated_sql(p.models))
        ).to_pylist()[0]  # fmt: skip
        suppressed, total = int(r["suppressed_rows"]), int(r["total_rows"])
        if p.unit == "people":
            people = int(r["people"])
            feasible = people > 0 and int(r["suppressed_people"]) <= p.suppression_limit * people
        else:
            feasible = total > 0 and suppressed <= p.suppression_limit * total
        q = len(p.attributes)
        cost = float(r["kept_cost"])
        if p.metric == "precision":
            cost = (total - suppressed) * bound[node] * q
        loss = metrics.objective_loss(cost, suppressed, q, total)
        bound_above = None
        if p.metric == "discernibility":
            loss = metrics.discernibility(r["kept_squares"], suppressed, total)
            bound_above = float(r["all_squares"])
        return lattice.Evaluation(node, feasible, suppressed, loss, int(r["classes"]), bound_above)

    # 2. apply -----------------------------------------------------------------------------
    def apply(self, levels: dict[str, int]) -> None:
        """`labelled` (rows at the chosen levels) and `classes` (with `small` to suppress)."""
        p = self.p
        carry = [p.person, *[c for c in p.carry if c != p.person]]
        if p.sensitive and p.sensitive not in carry:
            carry.append(p.sensitive)
        chosen = [(a, levels[a]) for a in p.columns]
        self.b.run(sql("labelled", source=p.source, carry=carry, chosen=chosen))
        self.b.run(sql("classes", params(p.models), attributes=p.columns, person=p.person,
                       sensitive=p.sensitive if p.l else None, violated=violated_sql(p.models)))  # fmt: skip

    # 3. measure ---------------------------------------------------------------------------
    def measure(self, levels: dict[str, int], found: lattice.SearchResult) -> Measures:
        p = self.p
        s = self.b.fetch(sql("class_summary", person=p.person, attributes=p.columns)).to_pylist()[0]
        rows, suppressed = int(s["input_rows"]), int(s["suppressed_rows"])
        if found.best is None or suppressed != found.best.suppressed_rows:
            raise RuntimeError("internal check failed: applied suppression differs from the search's")
        finest = [a.levels[0] for a in p.attributes]
        chosen = [(a, levels[a]) for a in p.columns]
        by_attribute = self.b.fetch(sql("loss_by_attribute", source=p.source, chosen=chosen)).to_pylist()[0]
        return Measures(
            input_rows=rows,
            input_people=int(s["input_people"]),
            published_rows=rows - suppressed,
            published_people=int(s["published_people"]),
            suppressed_rows=suppressed,
            people_with_suppressed_rows=int(s["people_with_suppressed_rows"]),
            classes=int(s["classes"]),
            min_class_people=int(s["min_class_people"]),
            avg_class_people=float(s["avg_class_people"]),
            # The objective's value when it is Loss; else Loss measured on the release.
            loss=round(found.best.loss if p.metric == "loss" else self._loss(by_attribute), 6),
            precision=round(metrics.precision([levels[a] for a in p.columns], p.heights, rows, suppressed), 6),
            discernibility=metrics.discernibility(s["kept_squares"], suppressed, rows),
            risk_before=metrics.risk(self.b, before=True,
                                     groups=[f"{a}_g{lvl}" for a, lvl in zip(p.columns, finest, strict=True)]),
            risk_after=metrics.risk(self.b),
            class_size_histogram=metrics.class_histogram(self.b, p.k),
            loss_by_attribute={a: round(float(v), 6) for a, v in zip(p.columns, by_attribute.values(), strict=True)},
        )  # fmt: skip

    @staticmethod
    def _loss(by_attribute: dict) -> float:
        values = [float(v) for v in by_attribute.values()]
        return sum(values) / len(values)

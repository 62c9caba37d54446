"""The anonymization engine on its own: any CSV, ARX hierarchies, no pipeline.

    python -m transforms anonymize --input adult.csv --hierarchies DIR --qi age,sex,race \\
        --k 5 --suppression 0.05 --metric loss --output out.csv [--sensitive salary-class]

Each record is one person. Hierarchies are ARX files `<anything>_hierarchy_<attr>.csv` in DIR
(`;` or `,` separated, detected). The output keeps every record and column; quasi-identifiers
are generalized to the chosen levels, and suppressed records show "*" in every one of them, as
ARX writes them. The same engine, search and cost model as the nightly export (engine.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transforms.backends import InputError, open_backend, sql
from transforms.errors import ExportError
from transforms.privacy import metrics
from transforms.privacy.engine import Attribute, Engine, Problem
from transforms.privacy.hierarchies import ArxOperator
from transforms.privacy.lookups import Source, build_lookup


@dataclass
class TabularResult:
    records: int
    k: int
    suppression_limit: float
    metric: str
    levels: dict[str, str]
    level_numbers: dict[str, int]
    suppressed: int
    classes: int
    min_class: int
    avg_class: float
    loss: float
    precision: float
    discernibility: float
    evaluated: int
    lattice: int
    seconds: float
    search_seconds: float = 0.0  # the lattice search alone (bounds and node evaluations)
    min_l: int = 0
    l_diversity: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def detect_separator(path: Path) -> str:
    with path.open(encoding="utf-8") as fh:
        first = fh.readline()
    return ";" if first.count(";") >= first.count(",") else ","


def load_hierarchies(folder: Path, qis: list[str]) -> dict[str, ArxOperator]:
    out, missing = {}, []
    for qi in qis:
        found = sorted(folder.glob(f"*hierarchy_{qi}.csv"))
        if not found:
            missing.append(qi)
        else:
            out[qi] = ArxOperator(found[0])
    if missing:
        raise ExportError(f"no hierarchy file for {missing} in {folder} (expected *_hierarchy_<attribute>.csv)")
    return out


def anonymize_csv(
    input_path: Path,
    hierarchy_dir: Path,
    qis: list[str],
    k: int,
    suppression: float,
    metric: str = "loss",
    output: Path | None = None,
    sensitive: str | None = None,
    min_l: int = 0,
) -> TabularResult:
    t0 = time.perf_counter()
    sep = detect_separator(input_path)
    with open_backend("duckdb") as b:
        try:
            b.run(sql("tabular_load", {"path": str(input_path), "separator": sep}))
        except InputError as exc:
            raise ExportError(f"cannot read {input_path}: {exc}") from None
        columns = [name for name, _ in b.columns("src")][1:]
        if "_record" in columns:
            raise ExportError(f"{input_path.name} has a column named _record, which the engine uses; rename it")
        missing = [c for c in [*qis, *([sensitive] if sensitive else [])] if c not in columns]
        if missing:
            raise ExportError(f"columns {missing} are not in {input_path.name}; it has {columns}")
        if min_l and not sensitive:
            raise ExportError("--l needs --sensitive (the column whose diversity is enforced)")
        hierarchies = load_hierarchies(hierarchy_dir, qis)
        # Column names of a CSV are free text: the engine works on safe names q0, q1, ...
        safe = {qi: f"q{i}" for i, qi in enumerate(qis)}
        for qi in qis:
            build_lookup(b, "src", Source(safe[qi], (qi,)), hierarchies[qi])
        keep = [("e", "_record", "_record"), *([("e", sensitive, "sensitive_value")] if sensitive else [])]
        b.materialize(
            "gen_rows",
            sql("attach_ids", source="src", keep=keep, person=None, qis=[Source(safe[qi], (qi,)) for qi in qis]),
        )
        problem = Problem(
            source="gen_rows",
            person="_record",
            k=k,
            suppression_limit=suppression,
            metric=metric,
            attributes=[Attribute(safe[qi], hierarchies[qi], (0, hierarchies[qi].height - 1)) for qi in qis],
            sensitive="sensitive_value" if sensitive else None,
            l=min_l,
        )
        engine = Engine(b, problem)
        found = engine.solve()
        if found.best is None:
            raise ExportError(f"no generalization reaches k={k} with at most {suppression:.1%} of records suppressed")
        levels = {safe[qi]: lvl for qi, lvl in zip(qis, found.best.levels, strict=True)}
        engine.apply(levels)
        m = engine.measure(found)
        result = TabularResult(
            records=m.input_rows,
            k=k,
            suppression_limit=suppression,
            metric=metric,
            min_l=min_l,
            levels={qi: hierarchies[qi].level_names[levels[safe[qi]]] for qi in qis},
            level_numbers={qi: levels[safe[qi]] for qi in qis},
            suppressed=m.suppressed_rows,
            classes=m.classes,
            min_class=m.min_class_people,
            avg_class=round(m.avg_class_people, 2),
            loss=m.loss,
            precision=m.precision,
            discernibility=m.discernibility,
            evaluated=found.evaluated,
            lattice=found.lattice_size,
            seconds=0.0,
            search_seconds=engine.seconds["search"],
        )
        if sensitive:
            attributes = list(safe.values())
            b.materialize("published", sql("tabular_published", attributes=attributes))
            result.l_diversity = metrics.l_diversity(b, "published", attributes, "sensitive_value")
            result.l_diversity["attribute"] = sensitive
        if output is not None:
            out_sql = sql("tabular_output", columns=columns, attributes=safe)
            b.write_csv(out_sql, output, sep)
    result.seconds = round(time.perf_counter() - t0, 3)
    return result

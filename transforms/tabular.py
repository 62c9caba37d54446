"""The anonymization engine on its own: any CSV, ARX hierarchies, no pipeline.

    python -m transforms anonymize --input adult.csv --hierarchies DIR --qi age,sex,race \\
        --k 5 --suppression 0.05 --metric loss --output out.csv [--sensitive salary-class]

Each record is one person. Hierarchies are ARX files `<anything>_hierarchy_<attr>.csv` in DIR
(`;` or `,` separated, detected). The output keeps every record and column; quasi-identifiers
are generalized to the chosen levels, and suppressed records show "*" in every one of them, as
ARX writes them. The same search and cost model as the nightly pipeline (transforms/search.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from transforms.db import sql_str
from transforms.errors import ExportError
from transforms.generalize import attach_ids, build_lookup
from transforms.hierarchies.arx import ArxOperator
from transforms.search import build_frequency_table, search


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
    min_l: int = 0
    l_diversity: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def detect_separator(path: Path) -> str:
    with path.open(encoding="utf-8") as fh:
        first = fh.readline()
    return ";" if first.count(";") >= first.count(",") else ","


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"CREATE TABLE src AS SELECT row_number() OVER () AS pid, * FROM "
        f"read_csv({sql_str(input_path)}, delim = {sql_str(sep)}, header = true, all_varchar = true)"
    )
    columns = [r[0] for r in con.execute("DESCRIBE src").fetchall()][1:]
    missing = [c for c in [*qis, *([sensitive] if sensitive else [])] if c not in columns]
    if missing:
        raise ExportError(f"columns {missing} are not in {input_path.name}; it has {columns}")
    if min_l and not sensitive:
        raise ExportError("--l needs --sensitive (the column whose diversity is enforced)")
    hierarchies = load_hierarchies(hierarchy_dir, qis)
    safe = [f"q{i}" for i in range(len(qis))]
    for s, qi in zip(safe, qis, strict=True):
        build_lookup(con, "src", s, [_q(qi)], hierarchies[qi])
    keep = ["pid", *([_q(sensitive)] if sensitive else [])]
    attach_ids(con, "src", "gen_rows", keep, [(s, [_q(qi)]) for s, qi in zip(safe, qis, strict=True)])
    if sensitive:
        con.execute(f"ALTER TABLE gen_rows RENAME COLUMN {_q(sensitive)} TO sensitive_value")
    heights = [hierarchies[qi].height for qi in qis]
    ranges = [(0, h - 1) for h in heights]
    build_frequency_table(con, "gen_rows", "pid", safe, ranges, "sensitive_value" if min_l else None)
    found = search(con, safe, ranges, k, suppression, metric, heights, min_l=min_l)
    if found.best is None:
        raise ExportError(f"no generalization reaches k={k} with at most {suppression:.1%} of records suppressed")
    levels = dict(zip(qis, found.best.levels, strict=True))

    labels = ", ".join(f"q{i}.l{levels[qi]} AS {s}" for i, (qi, s) in enumerate(zip(qis, safe, strict=True)))
    joins = " ".join(f"JOIN lk_{s} q{i} ON q{i}.id = g.{s}_id" for i, s in enumerate(safe))
    con.execute(f"CREATE TABLE labelled AS SELECT g.pid, {labels} FROM gen_rows g {joins}")
    key = ", ".join(safe)
    # A class too small, or (with l) not diverse enough, is suppressed: class_size 0 marks the latter.
    l_expr = f"count(DISTINCT s.{_q(sensitive)}) OVER (PARTITION BY {key})" if min_l else "NULL"
    con.execute(
        f"""CREATE TABLE sized AS
            SELECT * EXCLUDE (n, l), CASE WHEN l < {min_l} THEN 0 ELSE n END AS class_size FROM (
                SELECT labelled.*, count(*) OVER (PARTITION BY {key}) AS n, {l_expr} AS l
                FROM labelled JOIN src s USING (pid))"""
    )
    n = int(con.execute("SELECT count(*) FROM sized").fetchone()[0])
    suppressed = int(con.execute("SELECT count(*) FROM sized WHERE class_size < ?", [k]).fetchone()[0])
    classes, min_class, avg_class, dm = con.execute(
        f"""SELECT count(*), coalesce(min(c), 0), coalesce(avg(c), 0), coalesce(sum(c * c), 0)
            FROM (SELECT count(*) AS c FROM sized WHERE class_size >= {k} GROUP BY {key})"""
    ).fetchone()
    precision = (
        sum((lvl / max(1, h - 1)) for lvl, h in zip(found.best.levels, heights, strict=True))
        / len(qis)
        * (n - suppressed)
        / n
        + suppressed / n
    )
    result = TabularResult(
        records=n, k=k, suppression_limit=suppression, metric=metric, min_l=min_l,
        levels={qi: hierarchies[qi].level_names[levels[qi]] for qi in qis}, level_numbers=levels,
        suppressed=suppressed, classes=int(classes), min_class=int(min_class), avg_class=round(float(avg_class), 2),
        loss=round(_loss(con, safe, levels, qis, k, n), 6), precision=round(precision, 6),
        discernibility=float(dm) + suppressed * n,
        evaluated=found.evaluated, lattice=found.lattice_size, seconds=0.0,
    )  # fmt: skip
    if sensitive:
        result.l_diversity = _l_diversity(con, safe, sensitive, k)
    if output is not None:
        out_cols = []
        for c in columns:
            if c in qis:
                s = safe[qis.index(c)]
                out_cols.append(f"CASE WHEN z.class_size < {k} THEN '*' ELSE z.{s} END AS {_q(c)}")
            else:
                out_cols.append(f"src.{_q(c)}")
        con.execute(
            f"COPY (SELECT {', '.join(out_cols)} FROM src JOIN sized z USING (pid) ORDER BY pid) "
            f"TO {sql_str(output)} (HEADER, DELIMITER {sql_str(sep)})"
        )
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


def _loss(con, safe: list[str], levels: dict[str, int], qis: list[str], k: int, n: int) -> float:
    """ARX Loss of the output: mean over attributes and records, suppressed = 1."""
    cost = " + ".join(f"k{i}.c{levels[qi]}" for i, qi in enumerate(qis))
    joins = " ".join(f"JOIN lk_{s} k{i} ON k{i}.id = g.{s}_id" for i, s in enumerate(safe))
    total = con.execute(
        f"""SELECT sum(CASE WHEN z.class_size < {k} THEN {len(qis)} ELSE {cost} END)
            FROM gen_rows g {joins} JOIN sized z USING (pid)"""
    ).fetchone()[0]
    return float(total) / (len(qis) * n)


def _l_diversity(con, safe: list[str], sensitive: str, k: int) -> dict[str, float]:
    """Smallest distinct-l and entropy-l over published classes."""
    key = ", ".join(f"z.{s}" for s in safe)
    rows = con.execute(
        f"""
        WITH v AS (
            SELECT {key}, s.{_q(sensitive)} AS value, count(*) AS n
            FROM sized z JOIN src s USING (pid) WHERE z.class_size >= {k} GROUP BY ALL
        )
        SELECT count(*) AS distinct_values, list(n) AS counts FROM v GROUP BY {", ".join(safe)}
        """
    ).fetchall()
    if not rows:
        return {"attribute": sensitive, "distinct_l": 0, "entropy_l": 0.0}  # type: ignore[dict-item]
    entropy_l = []
    for _, counts in rows:
        total = sum(counts)
        h = -sum(c / total * math.log(c / total) for c in counts)
        entropy_l.append(math.exp(h))
    return {"attribute": sensitive, "distinct_l": min(r[0] for r in rows), "entropy_l": round(min(entropy_l), 4)}  # type: ignore[dict-item]

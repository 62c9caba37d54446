"""Anonymize: k-anonymity counted in people, then rare values gated the same way.

Grain of `anon_events`: one row per published play. Every combination of published
quasi-identifier values is shared by at least k distinct pseudonyms (people, not rows);
rows of smaller combinations are suppressed (removed and counted). Then each gated value
(e.g. a title) seen by fewer than k people among the published rows is replaced.

The class table (one row per combination, with its people and rows) is the frequency table
the choice of levels works on; the raw rows are touched once to build it and once to apply it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb

from transforms.db import scalar
from transforms.errors import PrivacyError
from transforms.hierarchies import Hierarchy, build_all, level_range
from transforms.policy import Policy
from transforms.search import SearchResult, build_frequency_table, search

log = logging.getLogger(__name__)


@dataclass
class AnonymizeResult:
    k: int
    levels: dict[str, str]
    level_numbers: dict[str, int]
    input_rows: int
    input_people: int
    published_rows: int
    published_people: int
    suppressed_rows: int
    suppressed_people: int
    classes: int
    min_class_people: int
    avg_class_people: float
    loss: float = 0.0
    precision: float = 0.0
    discernibility: float = 0.0
    metric: str = "loss"
    suppression_unit: str = "rows"
    people_with_suppressed_rows: int = 0
    levels_source: str = "search"
    risk_before: dict[str, float] = field(default_factory=dict)
    risk_after: dict[str, float] = field(default_factory=dict)
    l_diversity: dict[str, object] = field(default_factory=dict)
    class_size_histogram: dict[str, int] = field(default_factory=dict)
    loss_by_attribute: dict[str, float] = field(default_factory=dict)
    search_evaluated: int = 0
    search_lattice: int = 0
    search_seconds: float = 0.0
    gated_values: dict[str, int] = field(default_factory=dict)
    gated_rows: dict[str, int] = field(default_factory=dict)

    @property
    def suppression_share(self) -> float:
        return self.suppressed_rows / self.input_rows if self.input_rows else 0.0


def choose_levels(
    con: duckdb.DuckDBPyConnection,
    policy: Policy,
    previous: dict[str, str] | None = None,
    hierarchies: dict[str, Hierarchy] | None = None,
) -> tuple[dict[str, int], SearchResult]:
    """Run the optimal search over the policy's level ranges on gen_events.

    `previous`: last night's levels by name; with `stable_levels` they are kept while feasible.
    """
    hierarchies = hierarchies or build_all(policy)
    qis = policy.qi_columns
    ranges = [level_range(qi, hierarchies[qi.column]) for qi in policy.quasi_identifiers]
    min_l = policy.privacy.l or 0
    rows = build_frequency_table(
        con, "gen_events", policy.pseudonym.column, qis, ranges, policy.privacy.sensitive if min_l else None
    )
    log.info("anonymize: frequency table has %d rows (distinct combinations x people)", rows)
    preferred = None
    if policy.privacy.stable_levels and previous and set(previous) == set(qis):
        names = [hierarchies[q].level_names for q in qis]
        if all(previous[q] in n for q, n in zip(qis, names, strict=True)):
            preferred = tuple(n.index(previous[q]) for q, n in zip(qis, names, strict=True))
    result = search(
        con, qis, ranges, policy.privacy.k, policy.privacy.suppression_limit, policy.privacy.metric,
        [hierarchies[q].height for q in qis], policy.privacy.suppression_unit, preferred, min_l,
    )  # fmt: skip
    if result.best is None:
        raise PrivacyError(
            f"no generalization meets k={policy.privacy.k} within the suppression_limit of "
            f"{policy.privacy.suppression_limit:.1%} (even the most general levels allowed); "
            "lower k, raise the limit, or allow higher max_level values in the policy"
        )
    return dict(zip(qis, result.best.levels, strict=True)), result


def labelled_sql(policy: Policy, levels: dict[str, int]) -> str:
    """Rows of gen_events with each quasi-identifier at its chosen level."""
    cols = [policy.pseudonym.column, *policy.kept_columns]
    joins, labels = [], []
    for n, qi in enumerate(policy.qi_columns):
        joins.append(f"JOIN lk_{qi} q{n} ON q{n}.id = g.{qi}_id")
        labels.append(f"q{n}.l{levels[qi]} AS {qi}")
    return f"SELECT {', '.join(f'g.{c}' for c in cols)}, {', '.join(labels)} FROM gen_events g {' '.join(joins)}"


def risk(con: duckdb.DuckDBPyConnection, class_sql: str) -> dict[str, float]:
    """Prosecutor re-identification risk over classes (people per class): highest and row average."""
    row = con.execute(
        f"SELECT max(1.0 / people), sum(rows * 1.0 / people) / sum(rows) FROM ({class_sql}) WHERE people > 0"
    ).fetchone()
    return {"highest": round(float(row[0] or 0), 6), "average": round(float(row[1] or 0), 6)}


def anonymize(
    con: duckdb.DuckDBPyConnection, policy: Policy, previous_levels: dict[str, str] | None = None
) -> AnonymizeResult:
    k = policy.privacy.k
    pid = policy.pseudonym.column
    qis = policy.qi_columns
    hierarchies = build_all(policy)
    levels, found = choose_levels(con, policy, previous_levels, hierarchies)
    finest = [level_range(qi, hierarchies[qi.column])[0] for qi in policy.quasi_identifiers]
    groups = ", ".join(f"{q}_g{lvl}" for q, lvl in zip(qis, finest, strict=True))
    risk_before = risk(con, f"SELECT count(DISTINCT pid) AS people, sum(rows) AS rows FROM freq GROUP BY {groups}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE labelled AS {labelled_sql(policy, levels)}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE classes AS
        SELECT *, people < $k OR l_values < $l AS small FROM (
            SELECT {", ".join(qis)}, count(DISTINCT {pid}) AS people, count(*) AS rows,
                   {f"count(DISTINCT {policy.privacy.sensitive})" if policy.privacy.l else "0"} AS l_values
            FROM labelled GROUP BY ALL
        )
        """,
        {"k": k, "l": policy.privacy.l or 0},
    )
    input_rows = int(scalar(con, "SELECT count(*) FROM labelled") or 0)
    input_people = int(scalar(con, f"SELECT count(DISTINCT {pid}) FROM labelled") or 0)
    suppressed_rows = int(scalar(con, "SELECT coalesce(sum(rows), 0) FROM classes WHERE small"))
    share = suppressed_rows / input_rows if input_rows else 0.0
    on = " AND ".join(f"l.{q} = c.{q}" for q in qis)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE anon_events AS
        SELECT l.* FROM labelled l JOIN classes c ON {on}
        WHERE NOT c.small
        """
    )
    result = AnonymizeResult(
        k=k,
        levels={q: hierarchies[q].level_names[levels[q]] for q in qis},
        level_numbers=dict(levels),
        input_rows=input_rows,
        input_people=input_people,
        published_rows=int(scalar(con, "SELECT count(*) FROM anon_events") or 0),
        published_people=int(scalar(con, f"SELECT count(DISTINCT {pid}) FROM anon_events") or 0),
        suppressed_rows=suppressed_rows,
        suppressed_people=0,
        classes=int(scalar(con, "SELECT count(*) FROM classes WHERE NOT small") or 0),
        min_class_people=int(scalar(con, "SELECT coalesce(min(people), 0) FROM classes WHERE NOT small")),
        avg_class_people=float(scalar(con, "SELECT coalesce(avg(people), 0) FROM classes WHERE NOT small")),
        loss=round(found.best.loss, 6),
        search_evaluated=found.evaluated,
        search_lattice=found.lattice_size,
        search_seconds=round(found.seconds, 3),
    )
    if suppressed_rows != found.best.suppressed_rows:
        raise PrivacyError("internal check failed: applied suppression differs from the search's")
    heights = [hierarchies[q].height for q in qis]
    result.metric = policy.privacy.metric
    result.suppression_unit = policy.privacy.suppression_unit
    result.precision = round(
        (sum(levels[q] / max(1, h - 1) for q, h in zip(qis, heights, strict=True)) / len(qis))
        * (input_rows - suppressed_rows) / max(1, input_rows) + suppressed_rows / max(1, input_rows), 6
    )  # fmt: skip
    result.discernibility = (
        float(scalar(con, "SELECT coalesce(sum(rows * rows), 0) FROM classes WHERE NOT small") or 0)
        + suppressed_rows * input_rows
    )
    result.people_with_suppressed_rows = int(scalar(
        con, f"SELECT count(DISTINCT {pid}) FROM labelled l JOIN classes c ON {on} WHERE c.small"
    ) or 0)  # fmt: skip
    result.levels_source = "previous_night" if found.kept_preferred else "search"
    result.risk_before = risk_before
    result.class_size_histogram = class_histogram(con, k)
    result.loss_by_attribute = {
        q: round(float(v), 6) for q, v in zip(qis, _loss_by_attribute(con, qis, levels, pid), strict=True)
    }
    result.risk_after = risk(con, "SELECT people, rows FROM classes WHERE NOT small")
    # People all of whose plays were suppressed: they vanish from the extract entirely.
    result.suppressed_people = input_people - result.published_people
    for gate in policy.privacy.rare_values:
        rare = f"rare_{gate.key}"
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {rare} AS
            SELECT {gate.key} FROM anon_events GROUP BY 1 HAVING count(DISTINCT {pid}) < $k
            """,
            {"k": k},
        )
        result.gated_values[gate.key] = int(scalar(con, f"SELECT count(*) FROM {rare}") or 0)
        result.gated_rows[gate.key] = int(scalar(
            con, f"SELECT count(*) FROM anon_events WHERE {gate.key} IN (SELECT {gate.key} FROM {rare})"
        ) or 0)  # fmt: skip
        sets = ", ".join(f"{c} = $replacement" for c in gate.columns)
        con.execute(
            f"UPDATE anon_events SET {sets} WHERE {gate.key} IN (SELECT {gate.key} FROM {rare})",
            {"replacement": gate.replacement},
        )
    if policy.privacy.sensitive:  # after gating: diversity of what is actually published
        result.l_diversity = l_diversity(con, qis, policy.privacy.sensitive)
    con.execute("DROP TABLE labelled")
    con.execute("DROP TABLE freq")
    log.info(
        "anonymize: k=%d levels=%s classes=%d suppressed_rows=%d (%.2f%%)",
        k, result.levels, result.classes, suppressed_rows, 100 * share,
    )  # fmt: skip
    return result


def l_diversity(con: duckdb.DuckDBPyConnection, qis: list[str], sensitive: str) -> dict[str, object]:
    """Smallest distinct-l and entropy-l of `sensitive` over the published combinations (rows)."""
    row = con.execute(
        f"""
        WITH v AS (SELECT {", ".join(qis)}, {sensitive} AS value, count(*) AS n FROM anon_events GROUP BY ALL),
        c AS (
            SELECT count(*) AS distinct_values,
                   exp(-sum((n / total) * ln(n / total))) AS entropy_l
            FROM (SELECT *, sum(n) OVER (PARTITION BY {", ".join(qis)}) AS total FROM v)
            GROUP BY {", ".join(qis)}
        )
        SELECT min(distinct_values), min(entropy_l) FROM c
        """
    ).fetchone()
    return {"attribute": sensitive, "distinct_l": int(row[0] or 0), "entropy_l": round(float(row[1] or 0), 4)}


def class_histogram(con: duckdb.DuckDBPyConnection, k: int) -> dict[str, int]:
    """Published combinations by size in people: k, up to 2k, up to 5k, up to 10k, more."""
    bounds = [(k, k), (k + 1, 2 * k), (2 * k + 1, 5 * k), (5 * k + 1, 10 * k)]
    parts = [f"count(*) FILTER (WHERE people BETWEEN {lo} AND {hi})" for lo, hi in bounds]
    parts.append(f"count(*) FILTER (WHERE people > {10 * k})")
    row = con.execute(f"SELECT {', '.join(parts)} FROM classes WHERE NOT small").fetchone()
    labels = [f"{k}", f"{k + 1}-{2 * k}", f"{2 * k + 1}-{5 * k}", f"{5 * k + 1}-{10 * k}", f">{10 * k}"]
    return {label: int(v) for label, v in zip(labels, row, strict=True)}


def _loss_by_attribute(con: duckdb.DuckDBPyConnection, qis: list[str], levels: dict[str, int], pid: str) -> list[float]:
    """Mean Loss cost of each quasi-identifier over all rows (a suppressed row costs 1)."""
    joins = " ".join(f"JOIN lk_{q} k{i} ON k{i}.id = g.{q}_id" for i, q in enumerate(qis))
    on = " AND ".join(f"k{i}.l{levels[q]} = c.{q}" for i, q in enumerate(qis))
    sums = ", ".join(f"avg(CASE WHEN c.small THEN 1.0 ELSE k{i}.c{levels[q]} END)" for i, q in enumerate(qis))
    return list(con.execute(f"SELECT {sums} FROM gen_events g {joins} JOIN classes c ON {on}").fetchone())

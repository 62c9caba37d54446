"""Generalize: give every quasi-identifier value its label at each level of its hierarchy.

Reads   work/staged.parquet, work/persons.parquet
Writes  work/lookups/<qi>.parquet: one row per distinct source value, labels at every level
        work/generalized.parquet: one row per valid play: the pseudonym, kept columns, and per
        quasi-identifier the id of its source value in its lookup

Keeping all levels lets the anonymizer choose levels without touching the rows again; Python
only sees the distinct source values.
"""

from __future__ import annotations

import pyarrow.parquet as pq

from transforms.backends import sql
from transforms.config.policy import Policy
from transforms.context import Views, WorkFiles
from transforms.privacy.lookups import Source, build_lookup
from transforms.runtime import StageRun


def sources(policy: Policy) -> list[Source]:
    return [Source(qi.column, tuple(qi.source), qi.derive) for qi in policy.quasi_identifiers]


def register_lookups(backend, policy: Policy, work: WorkFiles) -> None:
    """Make the run's lookups readable as `lk_<qi>` (for later stages)."""
    for qi in policy.qi_columns:
        backend.register_parquet(Views.lookup(qi), work.lookup(qi))


def run(s: StageRun) -> dict:
    s.needs("pull", "pseudonymize")
    b, policy = s.backend, s.policy
    b.register_parquet(Views.STAGED, s.work.staged)
    b.register_parquet(Views.PERSONS, s.work.persons)
    hierarchies = policy.hierarchies()
    params = {"day": s.ctx.day_date}
    counts = {}
    for src in sources(policy):
        uses_day = src.derive == "age_years"
        table = build_lookup(b, Views.STAGED, src, hierarchies[src.column], params if uses_day else None)
        s.work.lookup(src.column).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, s.work.lookup(src.column), compression="zstd")
        counts[src.column] = table.num_rows
    keep = [("p", "pseudonym", policy.pseudonym.column), *(("e", c, c) for c in policy.kept_columns)]
    uses_day = any(src.derive == "age_years" for src in sources(policy))
    b.write_parquet(
        sql("attach_ids", params if uses_day else {}, source=Views.STAGED, keep=keep, qis=sources(policy),
            person=policy.pseudonym.person),
        s.work.generalized,
    )  # fmt: skip
    b.register_parquet(Views.GENERALIZED, s.work.generalized)
    rows = int(b.scalar(sql("count_rows", table=Views.GENERALIZED)) or 0)
    return {"rows": rows, "distinct_source_values": counts}

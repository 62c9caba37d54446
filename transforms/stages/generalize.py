"""Generalize: give every quasi-identifier value its label at each level of its hierarchy.

Reads   work/staged.parquet, work/persons.parquet, work/catalogue.parquet (for the titles hierarchy)
Writes  work/lookups/<qi>.parquet: one row per distinct source value, labels at every level
        work/generalized.parquet: one row per valid play: the pseudonym, kept (and, for an
        aggregate, measured) columns, and per quasi-identifier the id of its source value in its
        lookup

Keeping all levels lets the anonymizer choose levels without touching the rows again; Python
only sees the distinct source values.
"""

from __future__ import annotations

from transforms import storage
from transforms.backends import WORK_ROW_GROUP, sql
from transforms.config.policy import Policy
from transforms.context import Views, WorkFiles
from transforms.privacy.lookups import Source, build_lookup
from transforms.runtime import StageRun


def sources(policy: Policy) -> list[Source]:
    return [Source(qi.column, tuple(qi.source), qi.derive) for qi in policy.quasi_identifiers]


def bind_day_data(hierarchies: dict, work: WorkFiles) -> None:
    """Give hierarchies that read day data (the titles hierarchy: the catalogue) what they need."""
    if any("catalogue" in h.needs for h in hierarchies.values()):
        table = storage.read_table(work.catalogue)
        columns = ["title_id", "title_name", "content_type", "series_id", "series_name", "genre"]
        present = [c if c in table.column_names else None for c in columns]
        rows = list(zip(*(table.column(c).to_pylist() if c else [None] * table.num_rows for c in present), strict=True))
        for h in hierarchies.values():
            if "catalogue" in h.needs:
                h.bind({"catalogue": rows})


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
    bind_day_data(hierarchies, s.work)
    params = {"day": s.ctx.day_date}
    counts = {}
    for src in sources(policy):
        uses_day = src.derive == "age_years"
        table = build_lookup(b, Views.STAGED, src, hierarchies[src.column], params if uses_day else None)
        s.work.lookup(src.column).parent.mkdir(parents=True, exist_ok=True)
        storage.write_table(table, s.work.lookup(src.column), compression="zstd")
        counts[src.column] = table.num_rows
    carried = [*policy.kept_columns, *policy.measured_columns]
    keep = [("p", "pseudonym", policy.pseudonym.column), *(("e", c, c) for c in carried)]
    uses_day = any(src.derive == "age_years" for src in sources(policy))
    b.write_parquet(
        sql(
            "attach_ids",
            params if uses_day else {},
            source=Views.STAGED,
            keep=keep,
            qis=sources(policy),
            person=policy.pseudonym.person,
        ),
        s.work.generalized,
        row_group_size=WORK_ROW_GROUP,
    )
    b.register_parquet(Views.GENERALIZED, s.work.generalized)
    rows = int(b.scalar(sql("count_rows", table=Views.GENERALIZED)) or 0)
    return {"rows": rows, "distinct_source_values": counts}

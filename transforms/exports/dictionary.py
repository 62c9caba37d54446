"""The data dictionary of a night's extract: what every published column means and which
labels it can hold at the level the night published.

Built from the policy (each attribute's `description`, its hierarchy's labels) and the
night's levels, so it is true for the partition it travels with. It goes three places: the
privacy report's "Data dictionary" section, the Parquet files' field metadata (`description`,
read by `pyarrow.parquet.read_schema(f).field(c).metadata`), and, for the shipped policies,
docs/DATA_DICTIONARY.md (written by hand; a test keeps it covering every column).
"""

from __future__ import annotations

from dataclasses import dataclass

from transforms.config.policy import GROUPING_COLUMN, Policy

#: Labels that mean the same in every column.
SPECIAL_LABELS: dict[str, str] = {
    "*": "any value: the attribute was generalized all the way that night (see the levels), or, in an "
    "audience table, a margin that does not break the table down by this dimension; a `*` title is "
    "not a title and must be left out of title rankings",
    "unknown": "the raw value was missing (no birth date, gender or plan on the profile)",
    "other": "a raw value outside the policy's list (a gender or plan not in it, a device no rule matches, "
    "a city or country missing from the reference table)",
}

#: Companion columns of the titles hierarchy.
_COMPANIONS = {
    "title_name": "the catalogue name of the published title label: the title's name; at coarser levels "
    "`<series name> (series)`, `Comedy (episodes)`, `Any episode`; `Episodes not in the catalogue` "
    "for plays of titles the night's catalogue lacks; `*` with a `*` title",
    "content_type": "the content type of the published title label: `movie`, `episode` or `trailer` (`*` with "
    "a `*` title)",
}

DAY = (
    "day",
    "the UTC day exported: the hive partition folder `day=YYYY-MM-DD`, not a column inside the files "
    "(read it as a date: docs/DATA_DICTIONARY.md)",
    "a date",
)


@dataclass(frozen=True)
class Entry:
    column: str
    meaning: str
    values: str

    def text(self) -> str:
        """One line: the meaning, then the values (the Parquet field description)."""
        return f"{self.meaning}. Values: {self.values}."


def entries(policy: Policy, levels: dict[str, str]) -> list[Entry]:
    """Every published column of the policy's extract, in file order, at the night's `levels`
    (attribute -> level name, as in the manifest), then `day`."""
    hierarchies = policy.hierarchies()
    out: list[Entry] = []
    if policy.kind == "rows":
        p = policy.pseudonym
        out.append(
            Entry(
                p.column,
                f"who watched: a pseudonym of {' + '.join(p.person)}, keyed to the recipient "
                f"`{policy.recipient}` and the {p.epoch} (epoch `{p.epoch}`: "
                f"{'unrelated across nights' if p.epoch == 'day' else 'the same person keeps it through the epoch'})",
                "`<key id>:<32 hex digits>`; never a raw identifier or an unkeyed hash of one",
            )
        )
        out += [Entry(c, "kept as delivered (policy `keep`)", "the raw values") for c in policy.kept_columns]
    for qi in policy.quasi_identifiers:
        h = hierarchies[qi.column]
        level = levels.get(qi.column)
        index = h.level_index(level, qi.column) if level is not None else None
        meaning = qi.description or f"generalized from {', '.join(qi.source)}"
        if qi.derive == "age_years":
            m = policy.minors
            meaning += f"; people under {m.under} are " + (
                "left out (their plays are dropped and counted in the manifest's `minors`)"
                if m.action == "drop"
                else f"published only in the lowest band, `{policy.minors_band}`, with older people"
            )
        history = policy.privacy.history if policy.privacy else None
        if index is None:
            values = "see the levels"
        elif history and qi.column == history.title and index < h.height - 1:
            # Cut per value: a title watched by too few people goes up its catalogue path.
            above = "; ".join(h.explain(i) for i in range(index, h.height - 1))
            values = f"from level `{level}` up tonight (rarely watched titles go up, never to `*`): {above}"
        else:
            values = f"at level `{level}` tonight: {h.explain(index)}"
        out.append(Entry(qi.column, meaning, values))
        for companion in qi.publish:
            out.append(
                Entry(companion, _COMPANIONS.get(companion, f"the {companion} of the published {qi.column}"), "text")
            )
    if policy.export_kind == "dp":
        out += _dp_entries(policy)
    elif policy.kind == "aggregate":
        out += _aggregate_entries(policy)
    out.append(Entry(*DAY))
    return out


def _aggregate_entries(policy: Policy) -> list[Entry]:
    pr = policy.protection
    margins = [",".join(m) if m else "all" for m in policy.margin_list]
    out = [
        Entry(
            GROUPING_COLUMN,
            "the margin the row belongs to: the dimensions it breaks the night down by (`*` in the others); "
            "`all` is the whole night",
            ", ".join(f"`{m}`" for m in margins),
        )
    ]
    for m in policy.measures:
        if m.kind == "distinct_people":
            meaning = (
                f"distinct people who watched in the cell (a cell is published only with at least {pr.min_viewers})"
            )
            values = "a whole number"
        elif m.kind == "count":
            meaning = f"plays in the cell, at most {pr.max_plays_per_person} counted per person and finest cell"
            values = "a whole number"
        else:
            cap = f"{pr.max_watch_hours_per_person:g}"
            meaning = f"hours of `{m.column}` in the cell, at most {cap} per person and finest cell"
            values = "hours, rounded to 4 decimals"
        out.append(Entry(m.name, m.description or meaning, values))
    return out


def _dp_entries(policy: Policy) -> list[Entry]:
    d = policy.dp
    n = d.window_nights
    window = f", `viewers_last_{n}_nights`, `viewers_each_of_last_{n}_nights` (per title only)" if n else ""
    return [
        Entry(GROUPING_COLUMN, "what the row breaks the night down by: `title_id`, or `title_id,location`", "text"),
        Entry(
            "measure",
            "which figure the row holds: distinct viewers, plays or watch hours of the night"
            + (f"; people who watched the title over the last {n} nights, or on each of them" if n else ""),
            ", ".join(f"`{m.name}`" for m in policy.measures) + window,
        ),
        Entry(
            "value",
            "the figure with differentially private noise (OpenDP discrete Gaussian), clamped at 0; plays and hours "
            f"count at most {d.max_plays_per_title} plays and {d.max_watch_hours_per_title:g} hours per person and "
            f"title, and each person at most {d.max_titles_per_night} titles a night",
            "a number (watch hours to 4 decimals)",
        ),
        Entry(
            "error_95",
            "the 95% error bound: |value - exact bounded figure| < error_95 with probability at least 95%",
            "a number in the value's unit",
        ),
    ]


def fixed_levels(policy: Policy) -> dict[str, str]:
    """Each attribute's level name when the policy fixes it (an aggregate's dimensions)."""
    hierarchies = policy.hierarchies()
    return {
        qi.column: hierarchies[qi.column].level_names[qi.level_range(hierarchies[qi.column])[0]]
        for qi in policy.quasi_identifiers
    }


def field_descriptions(policy: Policy, levels: dict[str, str]) -> dict[str, str]:
    """column -> description, for the Parquet files' field metadata (`day` is not in the files)."""
    return {e.column: e.text() for e in entries(policy, levels) if e.column != DAY[0]}

"""Expectation suites for `rows` exports (one row per play; e.g. `viewing_sessions`).

Each suite validates one small frame computed from the staged Parquet files
(see transforms/exports/rows/extract.py): the published schema on a sample, the table of published
quasi-identifier combinations, the gated values (titles), the distinct pseudonyms, and the
run's counts. Row-level facts are therefore checked on every row without copying 10M rows
into pandas: a value is allowed in a column iff it is allowed in the column's distinct values.

Allowed values come from the policy's hierarchies at the levels chosen for the run, so every
age band, region or device class must be one the policy can produce.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from transforms.config.policy import Policy
from transforms.ops.keys import pseudonym_pattern
from transforms.privacy.hierarchies import Hierarchy

# Shapes of direct identifiers that must never appear in a published text column.
EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
IPV4 = r"(?:^|[^0-9])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:[^0-9]|$)"
IPV6 = r"(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}"
RAW_ACCOUNT = r"^AC[0-9A-F]{12}$"
RAW_PROFILE = r"^PR[0-9A-F]{16}$"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
IDENTIFIER_SHAPES = {
    "email": EMAIL,
    "ipv4": IPV4,
    "ipv6": IPV6,
    "raw_account_id": RAW_ACCOUNT,
    "raw_profile_id": RAW_PROFILE,
    "uuid": UUID,
}


def _no_identifier_shapes(suite: gx.ExpectationSuite, column: str, skip: tuple[str, ...] = ()) -> None:
    for name, pattern in IDENTIFIER_SHAPES.items():
        if name in skip:
            continue
        suite.add_expectation(
            gxe.ExpectColumnValuesToNotMatchRegex(
                column=column, regex=pattern, meta={"check": f"no {name} in {column}"}
            )
        )


def allowed_labels(hierarchy: Hierarchy, levels: range) -> list[str] | None:
    """Every label any of `levels` can produce, or None when one of them is open."""
    out: set[str] = set()
    for level in levels:
        domain = hierarchy.domain(level)
        if domain is None:
            return None
        out |= set(domain)
    return sorted(out)


def allowed_companion(hierarchy: Hierarchy, companion: str, levels: range) -> list[str] | None:
    out: set[str] = set()
    for level in levels:
        domain = hierarchy.companion_domain(companion, level)
        if domain is None:
            return None
        out |= set(domain)
    return sorted(out)


def build_suites(
    policy: Policy, hierarchies: dict[str, Hierarchy], levels: dict[str, int]
) -> dict[str, gx.ExpectationSuite]:
    """Suites keyed by the frame they validate (transforms/exports/rows/extract.py builds the frames)."""
    export = policy.export
    k = policy.privacy.k
    history = policy.privacy.history
    title = history.title if history else None
    suites: dict[str, gx.ExpectationSuite] = {}

    def published_levels(qi: str) -> range:
        # A history's title is cut: published at the chosen level or any level above it.
        return range(levels[qi], hierarchies[qi].height) if qi == title else range(levels[qi], levels[qi] + 1)

    schema = gx.ExpectationSuite(name=f"{export}.schema")
    schema.add_expectation(gxe.ExpectTableColumnsToMatchOrderedList(column_list=policy.published_columns))
    for column in policy.published_columns:
        schema.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suites["schema"] = schema

    types = gx.ExpectationSuite(name=f"{export}.types")
    types.add_expectation(gxe.ExpectColumnPairValuesToBeEqual(column_A="type", column_B="expected"))
    types.add_expectation(gxe.ExpectTableRowCountToEqual(value=len(policy.published_columns)))
    suites["types"] = types

    # The classes frame holds every published quasi-identifier; the title's labels (cut, and
    # catalogue ids may be UUIDs) are checked in their own frame below.
    row_attributes = [q for q in policy.qi_columns if q != title]
    classes = gx.ExpectationSuite(name=f"{export}.classes")
    for qi in row_attributes:
        classes.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=qi))
        allowed = allowed_labels(hierarchies[qi], published_levels(qi))
        if allowed is not None:
            classes.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=qi, value_set=allowed))
        _no_identifier_shapes(classes, qi)
    # The privacy invariant itself: the smallest combination of them all holds at least k people.
    classes.add_expectation(
        gxe.ExpectColumnMinToBeBetween(column="people", min_value=k, meta={"check": f"k-anonymity, k={k}"})
    )
    suites["classes"] = classes

    for qi in policy.quasi_identifiers:
        if qi.column in row_attributes and not qi.publish:
            continue
        suite = gx.ExpectationSuite(name=f"{export}.labels_{qi.column}")
        for column in (qi.column, *qi.publish):
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
            if column == qi.column:
                allowed = allowed_labels(hierarchies[qi.column], published_levels(qi.column))
            else:
                allowed = allowed_companion(hierarchies[qi.column], column, published_levels(qi.column))
            if allowed is not None:
                suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=allowed))
            # Catalogue ids may legitimately be UUIDs; every other identifier shape is banned.
            _no_identifier_shapes(suite, column, skip=("uuid",))
        suites[f"labels_{qi.column}"] = suite

    if history:
        h = gx.ExpectationSuite(name=f"{export}.history")
        checks = [("min_item_people", "min_item_people"), ("items_below_k", None)]
        if history.m >= 2:
            checks += [("min_pair_people", "min_pair_people"), ("pairs_below_k", None)]
        for column, minimum in checks:
            h.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column,
                    min_value=k if minimum else 0,
                    max_value=None if minimum else 0,
                    meta={
                        "check": f"history: attributes + {'1 play' if 'item' in column else '2 plays'} "
                        f"shared by >= {k} people"
                    },
                )
            )
        suites["history"] = h

    if policy.privacy.rare_values:
        values = gx.ExpectationSuite(name=f"{export}.values")
        for gate in policy.privacy.rare_values:
            for column in gate.columns:
                _no_identifier_shapes(values, column, skip=("uuid",))
        values.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="gate_ok", value_set=[True]))
        suites["values"] = values

    pseudonyms = gx.ExpectationSuite(name=f"{export}.pseudonyms")
    pseudonyms.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="pseudonym"))
    pseudonyms.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column="pseudonym", regex=pseudonym_pattern()))
    suites["pseudonyms"] = pseudonyms

    run = gx.ExpectationSuite(name=f"{export}.run")
    run.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="unaccounted_rows",
            min_value=0,
            max_value=0,
            meta={"check": "input = published + suppressed + rejected + minors dropped"},
        )
    )
    run.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="suppression_share", min_value=0, max_value=policy.privacy.suppression_limit
        )
    )
    run.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="min_class_people", min_value=k))
    run.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="published_rows", min_value=1))
    suites["run"] = run
    return suites

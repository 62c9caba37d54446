"""Expectation suites for `aggregate` exports (audience tables; e.g. `title_audience`).

Each suite validates one small frame computed from the written table and the night's
decision (see transforms/exports/aggregate/extract.py): the schema on a sample, the published
cells (bounded by the number of cells, not plays), the distinct labels, every margin relation
between a published parent and its children, the decision's audit and the play accounting.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.rows import IDENTIFIER_SHAPES, allowed_companion, allowed_labels
from transforms.config.policy import GROUPING_COLUMN, Policy


def build_suites(policy: Policy, columns: list[str]) -> dict[str, gx.ExpectationSuite]:
    export = policy.export
    p = policy.protection
    hierarchies = policy.hierarchies()
    measures = [m.name for m in policy.measures]
    people = next(m.name for m in policy.measures if m.kind == "distinct_people")
    suites: dict[str, gx.ExpectationSuite] = {}

    schema = gx.ExpectationSuite(name=f"{export}.schema")
    schema.add_expectation(gxe.ExpectTableColumnsToMatchOrderedList(column_list=columns))
    for column in columns:
        schema.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suites["schema"] = schema

    types = gx.ExpectationSuite(name=f"{export}.types")
    types.add_expectation(gxe.ExpectColumnPairValuesToBeEqual(column_A="type", column_B="expected"))
    types.add_expectation(gxe.ExpectTableRowCountToEqual(value=len(columns)))
    suites["types"] = types

    cells = gx.ExpectationSuite(name=f"{export}.cells")
    cells.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column=people, min_value=p.min_viewers, meta={"check": f"no published cell below {p.min_viewers} viewers"}
        )
    )
    for m in measures:
        cells.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(column=m, min_value=0, meta={"check": f"{m} non-negative"})
        )
    groupings = [",".join(m) or "all" for m in policy.margin_list]
    cells.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=GROUPING_COLUMN, value_set=groupings))
    cells.add_expectation(
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[GROUPING_COLUMN, *policy.dimension_columns], meta={"check": "one row per cell"}
        )
    )
    suites["cells"] = cells

    labels = gx.ExpectationSuite(name=f"{export}.labels")
    for qi in policy.quasi_identifiers:
        h = hierarchies[qi.column]
        level = qi.level_range(h)[0]
        allowed = allowed_labels(h, range(level, level + 1))
        if allowed is not None:
            labels.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=qi.column, value_set=[*allowed, "*"]))
        for companion in qi.publish:
            domain = allowed_companion(h, companion, range(level, level + 1))
            if domain is not None:
                labels.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=companion, value_set=[*domain, "*"]))
        for column in (qi.column, *qi.publish):
            for name, pattern in IDENTIFIER_SHAPES.items():
                labels.add_expectation(
                    gxe.ExpectColumnValuesToNotMatchRegex(
                        column=column, regex=pattern, meta={"check": f"no {name} in {column}"}
                    )
                )
    suites["labels"] = labels

    margins = gx.ExpectationSuite(name=f"{export}.margins")
    for check, what in (
        ("plays_ok", "plays: a margin holds at least its published children, exactly their sum when all are"),
        ("hours_ok", "hours: a margin holds at least its published children, their sum when all are (rounding)"),
        (
            "people_ok",
            "viewers: a margin holds at least its largest child, and their sum where a person has one value",
        ),
    ):
        margins.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=check, value_set=[True], meta={"check": what}))
    suites["margins"] = margins

    audit = gx.ExpectationSuite(name=f"{export}.audit")
    audit.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="min_published_people", min_value=p.min_viewers))
    for column, what in (
        ("primary_published", "every primary cell is suppressed"),
        ("published_with_reason", "no published cell carries a suppression reason"),
        ("suppressed_without_reason", "every suppressed cell has a reason"),
        ("uncertified", "every primary cell's range reaches its requirement"),
    ):
        audit.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=0, meta={"check": what})
        )
    suites["audit"] = audit

    run = gx.ExpectationSuite(name=f"{export}.run")
    run.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="unaccounted_rows",
            min_value=0,
            max_value=0,
            meta={"check": "input = rejected + minors + clipped + plays in published + in suppressed finest cells"},
        )
    )
    run.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="grand_total_gap", min_value=0, max_value=0, meta={"check": "the grand total holds every play"}
        )
    )
    suites["run"] = run
    return suites

"""Expectation suites for differentially private audience releases (`protection: dp`).

Each suite validates one small frame (transforms/exports/dp/report.py `frames`): the published
values, the table's columns, the public keys (every title is a catalogue title), the release's
spend against the night's rho and the window's budget, and the play accounting.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from transforms.config.policy import GROUPING_COLUMN, Policy


def build_suites(policy: Policy, stats: dict) -> dict[str, gx.ExpectationSuite]:
    from transforms.exports.dp.protect import COLUMNS, window_names

    export = policy.export
    suites: dict[str, gx.ExpectationSuite] = {}

    schema = gx.ExpectationSuite(name=f"{export}.schema")
    schema.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="column", value_set=COLUMNS))
    schema.add_expectation(gxe.ExpectTableRowCountToEqual(value=len(COLUMNS)))
    suites["schema"] = schema

    values = gx.ExpectationSuite(name=f"{export}.values")
    groupings = [",".join(m) for m in policy.margin_list]
    measures = [m.name for m in policy.measures] + (list(window_names(policy)) if policy.dp.window_nights else [])
    values.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=GROUPING_COLUMN, value_set=groupings))
    values.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="measure", value_set=measures))
    for column in ("title_id", "location", "measure", "value", "error_95"):
        values.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    values.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0, meta={"check": "clamped at 0"})
    )
    values.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="error_95", min_value=0, strict_min=True, meta={"check": "every value carries its error bound"}
        )
    )
    values.add_expectation(
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[GROUPING_COLUMN, "title_id", "location", "measure"], meta={"check": "one value per key"}
        )
    )
    suites["values"] = values

    keys = gx.ExpectationSuite(name=f"{export}.keys")
    keys.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="titles_outside_catalogue",
            min_value=0,
            max_value=0,
            meta={"check": "only public keys: titles of the night's catalogue"},
        )
    )
    suites["keys"] = keys

    release = gx.ExpectationSuite(name=f"{export}.release")
    release.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="rho_charged",
            min_value=0,
            max_value=policy.dp.rho_per_night,
            meta={"check": "the measures charge at most the night's rho"},
        )
    )
    release.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="window_remaining", min_value=0, meta={"check": "no rolling window over its budget"}
        )
    )
    suites["release"] = release

    run = gx.ExpectationSuite(name=f"{export}.run")
    run.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="unaccounted_rows",
            min_value=0,
            max_value=0,
            meta={"check": "input = rejected + minors + plays of the night"},
        )
    )
    suites["run"] = run
    return suites

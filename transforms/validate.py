"""Validate: the gate between the staged extract and publication.

DuckDB reads the staged Parquet files and computes small frames (distinct combinations,
gated values, distinct pseudonyms, run counts, a schema sample); Great Expectations
validates those frames with the suites in `expectations/` and writes Data Docs beside the
extract. Memory stays bounded by the number of distinct values, not rows.

Results use the BASIC format with no unexpected values listed, so a report can say that an
email reached a column without ever printing the email.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from transforms.db import sql_list
from transforms.errors import ValidationFailed
from transforms.hierarchies import build_all
from transforms.policy import Policy
from transforms.pseudonymize import pseudonym_pattern

log = logging.getLogger(__name__)

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}


@dataclass
class ValidationSummary:
    success: bool
    evaluated: int
    failed: list[str] = field(default_factory=list)
    suites: dict[str, bool] = field(default_factory=dict)
    data_docs: str = ""


def build_frames(
    con: duckdb.DuckDBPyConnection, policy: Policy, files: list[str], counts: dict[str, int]
) -> dict[str, pd.DataFrame]:
    pid = policy.pseudonym.column
    qis = ", ".join(policy.qi_columns)
    # A view cannot hold bound parameters; the paths are ours (staging folder), quoted safely.
    con.execute(f"CREATE OR REPLACE VIEW staged AS SELECT * FROM read_parquet({sql_list(files)})")
    expected_types = {c: "VARCHAR" for c in policy.published_columns}
    described = con.execute("DESCRIBE SELECT * FROM staged").fetchall()
    frames = {
        "schema": con.sql("SELECT * FROM staged LIMIT 1000").df(),
        "types": pd.DataFrame(
            [
                {"column": name, "type": dtype, "expected": expected_types.get(name, "(not published)")}
                for name, dtype, *_ in described
            ]
        ),
        "classes": con.sql(
            f"SELECT {qis}, count(DISTINCT {pid}) AS people, count(*) AS rows FROM staged GROUP BY ALL"
        ).df(),
        "pseudonyms": con.sql(f"SELECT DISTINCT {pid} AS pseudonym FROM staged").df(),
    }
    k = policy.privacy.k
    gate_cols: list[str] = []
    for gate in policy.privacy.rare_values:
        gate_cols += [c for c in gate.columns if c not in gate_cols]
    keys = [g.key for g in policy.privacy.rare_values]
    replaced = " AND ".join(
        f"{key} = '{g.replacement}'" for key, g in zip(keys, policy.privacy.rare_values, strict=True)
    )
    frames["values"] = con.sql(
        f"""
        SELECT *, (people >= {k} OR ({replaced or "false"})) AS gate_ok
        FROM (SELECT {", ".join(gate_cols)}, content_type, count(DISTINCT {pid}) AS people
              FROM staged GROUP BY ALL)
        """
    ).df()
    published = int(con.execute("SELECT count(*) FROM staged").fetchone()[0])
    min_people = frames["classes"]["people"].min() if len(frames["classes"]) else 0
    frames["run"] = pd.DataFrame([{
        "input_rows": counts["input_rows"],
        "published_rows": published,
        "suppressed_rows": counts["suppressed_rows"],
        "rejected_rows": counts["rejected_rows"],
        "unaccounted_rows": counts["input_rows"] - published - counts["suppressed_rows"] - counts["rejected_rows"],
        "suppression_share": counts["suppressed_rows"] / max(1, counts["input_rows"]),
        "min_class_people": int(min_people),
    }])  # fmt: skip
    return frames


def gx_context(docs_dir: Path):
    """An ephemeral GX context whose Data Docs site is `docs_dir`. Suites need one to exist."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="local",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def run_suites(
    context, frames: dict[str, pd.DataFrame], suites: dict, docs_dir: Path, export: str
) -> ValidationSummary:
    import great_expectations as gx

    source = context.data_sources.add_pandas(f"{export}_staged")
    summary = ValidationSummary(success=True, evaluated=0)
    for name, suite in suites.items():
        batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("staged")
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{export}.{name}", data=batch, suite=suite)
        )
        # Each run stores its result in the context; Data Docs are built once, below.
        result = definition.run(batch_parameters={"dataframe": frames[name]}, result_format=RESULT_FORMAT)
        summary.suites[suite.name] = bool(result.success)
        for r in result.results:
            summary.evaluated += 1
            if not r.success:
                cfg = r.expectation_config
                column = cfg.kwargs.get("column")
                label = f"{suite.name}: {cfg.type}" + (f"({column})" if column else "")
                if cfg.meta and cfg.meta.get("check"):
                    label += f" [{cfg.meta['check']}]"
                summary.failed.append(label)
    context.build_data_docs(site_names=["local"])
    summary.success = not summary.failed
    summary.data_docs = str(docs_dir / "index.html")
    return summary


def validate(
    con: duckdb.DuckDBPyConnection,
    policy: Policy,
    files: list[str],
    counts: dict[str, int],
    levels: dict[str, int],
    docs_dir: Path,
) -> ValidationSummary:
    """Run every suite on the staged extract; raise ValidationFailed naming what failed."""
    from expectations.viewing_sessions import build_suites

    hierarchies = build_all(policy)
    frames = build_frames(con, policy, files, counts)
    context = gx_context(docs_dir)
    suites = build_suites(policy, hierarchies, levels, pseudonym_pattern())
    summary = run_suites(context, frames, suites, docs_dir, policy.export)
    log.info("validate: %d expectations, %d failed", summary.evaluated, len(summary.failed))
    if not summary.success:
        raise ValidationFailed(
            f"validation failed, nothing published: {len(summary.failed)} of {summary.evaluated} "
            f"expectations failed: {'; '.join(summary.failed)}; see {summary.data_docs}",
            summary.failed,
        )
    return summary

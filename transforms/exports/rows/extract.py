"""The rows kind's extract and the frames that validate it.

`write`: the second and last write of event-grain data in a run: `generalized` at the chosen
levels, kept classes only, gated values replaced, in a fixed row order so reruns are
byte-identical.

`frames`: small tables computed from the written file (distinct combinations, gated values,
distinct pseudonyms, run counts, a schema sample) for Great Expectations. Their size is
bounded by distinct values, not rows, and a value is allowed in a column iff it is allowed
among the column's distinct values, so these checks cover every row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from transforms.backends import Backend, sql
from transforms.config.policy import Policy
from transforms.context import DATA_FILE, Views
from transforms.exports.dictionary import field_descriptions
from transforms.exports.rows.protect import published_sql, register_decision, register_inputs
from transforms.runtime import StageRun


def write(s: StageRun, folder: Path) -> list[Path]:
    policy, b = s.policy, s.backend
    register_inputs(b, policy, s.work)
    register_decision(b, policy, s.work)
    path = folder / DATA_FILE
    b.write_parquet(
        published_sql(policy, s.stats["anonymize"]["level_numbers"], ordered=True),
        path,
        descriptions=field_descriptions(policy, s.stats["anonymize"]["levels"]),
    )
    return [path]


def labelled_apart(policy: Policy) -> list[str]:
    """Quasi-identifiers whose labels are checked in a frame of their own: those published with
    companions, and a history's title (cut: its labels come from several levels)."""
    title = policy.privacy.history.title if policy.privacy.history else None
    return [qi.column for qi in policy.quasi_identifiers if qi.publish or qi.column == title]


def frames(backend: Backend, policy: Policy, files: list[Path], counts: dict[str, int]) -> dict[str, pd.DataFrame]:
    pid = policy.pseudonym.column
    k = policy.privacy.k
    backend.register_parquet(Views.EXTRACT, files)
    expected_types = {c: "VARCHAR" for c in policy.published_columns}
    out = {
        "schema": backend.fetch(sql("frame_sample", {"n": 1000}, source=Views.EXTRACT)).to_pandas(),
        "types": pd.DataFrame(
            [
                {"column": name, "type": dtype, "expected": expected_types.get(name, "(not published)")}
                for name, dtype in backend.columns(Views.EXTRACT)
            ]
        ),
        # Every published quasi-identifier, the title too: each combination holds >= k people.
        "classes": backend.fetch(sql("frame_classes", attributes=policy.qi_columns, person=pid)).to_pandas(),
        "pseudonyms": backend.fetch(sql("frame_pseudonyms", person=pid)).to_pandas(),
    }
    apart = labelled_apart(policy)
    for qi in policy.quasi_identifiers:
        if qi.column in apart:
            out[f"labels_{qi.column}"] = backend.fetch(
                sql("frame_labels", columns=[qi.column, *qi.publish])
            ).to_pandas()
    h = policy.privacy.history
    if h:
        out["history"] = backend.fetch(
            sql("frame_history", {"k": k}, person=pid, attributes=[*h.person, *h.play], pairs=h.m >= 2)
        ).to_pandas()
    if policy.privacy.rare_values:
        gate_cols: list[str] = []
        for gate in policy.privacy.rare_values:
            gate_cols += [c for c in gate.columns if c not in gate_cols]
        replaced = {g.key: g.replacement for g in policy.privacy.rare_values}
        params = {"k": k, **{f"replacement_{key}": value for key, value in replaced.items()}}
        out["values"] = backend.fetch(
            sql("frame_gated_values", params, columns=gate_cols, keys=list(replaced), person=pid)
        ).to_pandas()
    published = int(backend.scalar(sql("count_rows", table=Views.EXTRACT)) or 0)
    min_people = out["classes"]["people"].min() if len(out["classes"]) else 0
    out["run"] = pd.DataFrame(
        [
            {
                "input_rows": counts["input_rows"],
                "published_rows": published,
                "suppressed_rows": counts["suppressed_rows"],
                "rejected_rows": counts["rejected_rows"],
                "unaccounted_rows": counts["input_rows"]
                - published
                - counts["suppressed_rows"]
                - counts["rejected_rows"]
                - counts["minor_rows"],
                "minor_rows": counts["minor_rows"],
                "suppression_share": counts["suppressed_rows"] / max(1, counts["input_rows"]),
                "min_class_people": int(min_people),
            }
        ]
    )
    return out

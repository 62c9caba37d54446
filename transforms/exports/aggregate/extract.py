"""The aggregate kind's table and the frames that validate it.

`write`: one row per published cell (suppressed cells are absent): each dimension's label at
its policy level (`*` where the cell's margin lacks it), the `grouping` it belongs to, and the
measures; fixed order, so reruns are byte-identical.

`frames`: the published cells (bounded by the number of cells, not plays), every margin
relation between a published parent and its children, the decision's audit figures and the
night's play accounting, for Great Expectations.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from transforms.backends import Backend, sql
from transforms.config.policy import GROUPING_COLUMN, Policy
from transforms.context import DATA_FILE, Views, WorkFiles
from transforms.exports.aggregate.protect import Shape, register_inputs
from transforms.exports.dictionary import field_descriptions, fixed_levels
from transforms.runtime import StageRun

CELLS = "cells"


def measure_names(policy: Policy) -> dict[str, str | None]:
    """The published names of the people, plays and (first) hours measures."""
    by_kind: dict[str, str | None] = {"distinct_people": None, "count": None, "sum_hours": None}
    for m in policy.measures:
        by_kind[m.kind] = by_kind[m.kind] or m.name
    return {"people": by_kind["distinct_people"], "plays": by_kind["count"], "hours": by_kind["sum_hours"]}


def published_columns(policy: Policy) -> list[str]:
    out = []
    for qi in policy.quasi_identifiers:
        out += [qi.column, *qi.publish]
    return [*out, GROUPING_COLUMN, *(m.name for m in policy.measures)]


def register_decision(b: Backend, work: WorkFiles) -> None:
    b.register_parquet(CELLS, work.decision / "cells.parquet")


def _shape_args(policy: Policy) -> dict:
    shape = Shape.of(policy)
    names = measure_names(policy)
    return {
        "dims": shape.dims,
        "sums": shape.sums,
        "grouping": GROUPING_COLUMN,
        "people": names["people"],
        "plays": names["plays"],
    }


def write(s: StageRun, folder: Path) -> list[Path]:
    policy, b = s.policy, s.backend
    register_inputs(b, policy, s.work)
    register_decision(b, s.work)
    path = folder / DATA_FILE
    b.run(sql("agg_labels", dims=Shape.of(policy).dims))
    b.write_parquet(
        sql("agg_published", **_shape_args(policy)),
        path,
        descriptions=field_descriptions(policy, fixed_levels(policy)),
    )
    return [path]


def relations(policy: Policy, additive: list[str]) -> list[dict]:
    """Every (parent margin, child margin, dimension summed over) among the published margins."""
    margins = policy.margin_list
    out = []
    for child in margins:
        for d in child:
            parent = tuple(c for c in child if c != d)
            if parent in margins:
                out.append(
                    {
                        "parent": ",".join(parent) or "all",
                        "child": ",".join(child),
                        "dimension": d,
                        "additive": d in additive,
                        "keep": list(parent),
                    }
                )
    return out


def frames(backend: Backend, policy: Policy, files: list[Path], stats: dict) -> dict[str, pd.DataFrame]:
    backend.register_parquet(Views.EXTRACT, files)
    anon, pull = stats["anonymize"], stats["pull"]
    names = measure_names(policy)
    args = _shape_args(policy)
    rels = relations(policy, anon["people_additive"])
    params = {}
    for i, r in enumerate(rels):
        params |= {f"parent{i}": r["parent"], f"child{i}": r["child"], f"dimension{i}": r["dimension"]}
        params[f"additive{i}"] = r["additive"]
    text_columns = [name for name, dtype in backend.columns(Views.EXTRACT) if dtype == "VARCHAR"]
    out = {
        "schema": backend.fetch(sql("frame_sample", {"n": 1000}, source=Views.EXTRACT)).to_pandas(),
        "types": pd.DataFrame(
            [
                {"column": name, "type": dtype, "expected": _expected_type(policy, name)}
                for name, dtype in backend.columns(Views.EXTRACT)
            ]
        ),
        "cells": backend.fetch(sql("select_all", table=Views.EXTRACT)).to_pandas(),
        "labels": backend.fetch(
            sql("frame_labels", columns=[c for c in text_columns if c != GROUPING_COLUMN])
        ).to_pandas(),
    }
    backend.run(sql("agg_labels", dims=args["dims"]))
    margins = backend.fetch(sql("agg_frame_margins", params, relations=rels, hours=names["hours"], **args)).to_pandas()
    if margins.empty:
        margins = pd.DataFrame(
            columns=[
                "parent",
                "dimension",
                "people_add_up",
                "parent_people",
                "parent_plays",
                "parent_hours",
                "children",
                "children_published",
                "children_people",
                "max_child_people",
                "children_plays",
                "children_hours",
            ]
        )
    complete = margins["children"] == margins["children_published"]
    # Hours are published rounded to 4 decimals: a parent may differ from its children's sum by
    # half a unit of the last place per child.
    slack = 0.00005 * (margins["children_published"] + 1) + 1e-9
    margins["plays_ok"] = (margins["parent_plays"] >= margins["children_plays"]) & (
        ~complete | (margins["parent_plays"] == margins["children_plays"])
    )
    margins["hours_ok"] = (margins["parent_hours"] >= margins["children_hours"] - slack) & (
        ~complete | ((margins["parent_hours"] - margins["children_hours"]).abs() <= slack)
    )
    people_add = margins["people_add_up"].astype(bool)
    margins["people_ok"] = (margins["parent_people"] >= margins["max_child_people"]) & (
        ~people_add
        | (
            (margins["parent_people"] >= margins["children_people"])
            & (~complete | (margins["parent_people"] == margins["children_people"]))
        )
    )
    out["margins"] = margins
    published = out["cells"]
    finest = published[published[GROUPING_COLUMN] == ",".join(policy.dimension_columns)]
    plays = names["plays"]
    visible = int(finest[plays].sum()) if plays else anon["plays_visible"]
    hidden = int(backend.scalar(sql("agg_hidden_plays", {"finest": ",".join(policy.dimension_columns)})) or 0)
    total = published[published[GROUPING_COLUMN] == "all"]
    out["run"] = pd.DataFrame(
        [
            {
                "input_rows": pull["input_rows"],
                "rejected_rows": pull["rejected_rows"],
                "clipped_plays": anon["plays_clipped"],
                "plays_in_published_cells": visible,
                "plays_in_suppressed_cells": hidden,
                "minor_rows": pull.get("minor_rows", 0),
                "unaccounted_rows": pull["input_rows"]
                - pull["rejected_rows"]
                - pull.get("minor_rows", 0)
                - anon["plays_clipped"]
                - visible
                - hidden,
                # The grand total, when published, holds every counted play.
                "grand_total_gap": (int(total[plays].iloc[0]) - visible - hidden) if plays and len(total) else 0,
            }
        ]
    )
    needs = anon["protected_measures"]
    out["audit"] = backend.fetch(
        sql("agg_frame_audit", {"min_viewers": policy.protection.min_viewers}, needs=needs)
    ).to_pandas()
    return out


def _expected_type(policy: Policy, name: str) -> str:
    kinds = {m.name: m.kind for m in policy.measures}
    if name in kinds:
        return {"distinct_people": "BIGINT", "count": "BIGINT", "sum_hours": "DOUBLE"}[kinds[name]]
    if name in published_columns(policy):
        return "VARCHAR"
    return "(not published)"

"""The night-to-night linkage attack on an unprotected release, for comparison with the report's.

Each night's report measures how many people an attacker links from the previous night to
tonight by their attributes and titles, on what was published. This script measures the same
attack (the same SQL, `history_linkage.sql`) on what a release at the finest levels the policy
allows would show, without history protection: the "before" of that figure.

    python benchmarks/linkage_baseline.py --policy policies/viewing_sessions.yaml \\
        --raw-root DIR --night 2026-11-24 --key-file KEY [--sample 5000]

It runs pull, pseudonymize and generalize for the night and the one before in a temporary work
folder (deleted at the end) and prints one JSON line. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from datetime import date, timedelta
from pathlib import Path

import duckdb

from transforms.backends import render, sql
from transforms.backends.duckdb import DuckDBBackend
from transforms.config.policy import load_policy
from transforms.context import RunContext
from transforms.ops.keys import load_key_ring
from transforms.pipeline import run_stage


def finest(work: Path, attributes: dict[str, int]) -> str:
    """The night's rows with each attribute's label at its finest allowed level."""
    cols = ", ".join(f'l_{a}.l{lvl} AS "{a}"' for a, lvl in attributes.items())
    joins = " ".join(
        f"JOIN read_parquet('{work}/lookups/{a}.parquet') l_{a} ON l_{a}.id = g.\"{a}_id\"" for a in attributes
    )
    return f"SELECT g.viewer_id, {cols} FROM read_parquet('{work}/generalized.parquet') g {joins}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", type=Path, required=True)
    p.add_argument("--raw-root", type=Path, required=True)
    p.add_argument("--night", type=date.fromisoformat, required=True, help="tonight; the night before is linked to it")
    p.add_argument("--key-file", type=Path, required=True)
    p.add_argument("--sample", type=int, default=5000)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    policy = load_policy(args.policy)
    h = policy.privacy.history
    if h is None or policy.pseudonym.column != "viewer_id":
        raise SystemExit("the policy needs privacy.history and the pseudonym column viewer_id")
    hierarchies = policy.hierarchies()
    lowest = {qi.column: qi.level_range(hierarchies[qi.column])[0] for qi in policy.quasi_identifiers}
    attributes = {a: lowest[a] for a in (*h.person, h.title)}
    ring = load_key_ring(str(args.key_file))
    with tempfile.TemporaryDirectory() as tmp:
        works = {}
        for day in (args.night - timedelta(days=1), args.night):
            ctx = RunContext(str(args.policy), day.isoformat(), "baseline", str(args.raw_root), f"{tmp}/out", tmp)
            for stage in ("pull", "pseudonymize", "generalize"):
                run_stage(stage, ctx, ring)
            works[day] = ctx.work(policy.export).folder
        before, tonight = works[args.night - timedelta(days=1)], works[args.night]
        con = duckdb.connect()
        con.execute(f"CREATE VIEW published AS {finest(tonight, attributes)}")
        persons = f"{tonight}/persons.parquet"
        con.execute(f"CREATE VIEW persons AS SELECT pseudonym, link_token FROM read_parquet('{persons}')")
        person_cols = ", ".join(f'f."{a}"' for a in (*h.person, h.title))
        con.execute(
            f"CREATE VIEW previous_items AS SELECT DISTINCT p.link_token, {person_cols} "
            f"FROM ({finest(before, attributes)}) f JOIN read_parquet('{before}/persons.parquet') p "
            "ON p.pseudonym = f.viewer_id"
        )
        statement = render(
            sql(
                "history_linkage",
                {"sample": args.sample},
                person_attributes=list(h.person),
                title=h.title,
                person=policy.pseudonym.column,
                tonight="published",
            ),
            DuckDBBackend.sql_dir,
        )[0]
        both, tried, linked = con.execute(statement.text, statement.params).fetchone()
    print(
        json.dumps(
            {
                "night": args.night.isoformat(),
                "levels": {a: hierarchies[a].level_names[lvl] for a, lvl in attributes.items()},
                "people_in_both_nights": both,
                "people_tried": tried,
                "linked": linked,
                "linked_share": round(linked / tried, 6) if tried else 0.0,
            }
        )
    )


if __name__ == "__main__":
    main()

"""The minors rule at pull: plays of people under the policy's age are dropped and counted
(action drop), or kept for the coarse band (action coarse); ages are whole years on the day."""

from __future__ import annotations

import yaml

from tests.support import POLICY_PATH
from tests.support.rawday import dumps, event, write_day
from tests.support.runs import context, query
from transforms.config.policy import load_policy
from transforms.pipeline import run_stage

PEOPLE = [
    # (profile, birth date, plays): ages on 2026-11-23
    ("PR0000000000000001", "1990-01-01", 2),  # 36
    ("PR0000000000000002", "2010-11-23", 3),  # 16 today: not a minor
    ("PR0000000000000003", "2010-11-24", 4),  # 15 (16 tomorrow): a minor
    ("PR0000000000000004", "2020-05-05", 1),  # 6
    ("PR0000000000000005", None, 2),  # no birth date: not known to be a minor
]


def _day(raw):
    rows, n = [], 0
    for profile, _, plays in PEOPLE:
        for _ in range(plays):
            n += 1
            rows.append(event(n, profile_id=profile))
    subs = [{"account_id": rows[0]["account_id"], "profile_id": p, "birth_date": b} for p, b, _ in PEOPLE]
    write_day(raw, dumps(rows), subs)


def _policy(tmp_path, action):
    data = yaml.safe_load(POLICY_PATH.read_text())
    data["minors"] = {"under": 16, "action": action}
    path = tmp_path / "policy" / "p.yaml"
    (path.parent / "reference").mkdir(parents=True)
    path.write_text(yaml.safe_dump(data))
    reference = POLICY_PATH.parent / "reference" / "geo_cities.csv"
    (path.parent / "reference" / "geo_cities.csv").write_text(reference.read_text())
    return load_policy(path)


def test_drop_removes_the_plays_of_people_under_the_age_and_counts_them(tmp_path):
    _day(tmp_path / "raw")
    ctx = context(tmp_path / "raw", tmp_path, _policy(tmp_path, "drop"))
    result = run_stage("pull", ctx)
    assert (result["input_rows"], result["valid_rows"]) == (12, 12)
    assert (result["minor_rows"], result["minor_people"]) == (5, 2)
    staged = query(ctx.work("viewing_sessions").staged, "SELECT profile_id, count(*) FROM t GROUP BY 1 ORDER BY 1")
    assert staged == [("PR0000000000000001", 2), ("PR0000000000000002", 3), ("PR0000000000000005", 2)]


def test_coarse_keeps_every_play(tmp_path):
    _day(tmp_path / "raw")
    result = run_stage("pull", context(tmp_path / "raw", tmp_path, _policy(tmp_path, "coarse")))
    assert (result["valid_rows"], result["minor_rows"], result["minor_people"]) == (12, 0, 0)

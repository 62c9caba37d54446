"""An independent checker (pycanon) confirms k on a published extract, counted in people."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import duckdb
import pytest

from tests.support import CHECKER, DAY, POLICY_PATH, ROOT, TEST_SECRET


@pytest.fixture(scope="module")
def checker():
    if not CHECKER.exists():
        if os.environ.get("CI"):
            pytest.fail("the pycanon checker venv is missing: run scripts/setup-checker.sh")
        pytest.skip("pycanon checker not set up (scripts/setup-checker.sh; scripts/test.sh does it)")
    return CHECKER


def test_pycanon_agrees_with_the_manifest(checker, raw_day, policy, tmp_path):
    key = tmp_path / "key"
    key.write_text("base64:" + base64.b64encode(TEST_SECRET).decode())
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "transforms",
            "run",
            "--policy",
            str(POLICY_PATH),
            "--day",
            str(DAY),
            "--raw-root",
            str(raw_day),
            "--out-root",
            str(out),
            "--key-file",
            str(key),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((out / "viewing_sessions" / f"day={DAY}" / "_manifest.json").read_text())
    # k holds on each row's combination of every quasi-identifier, the title among them.
    qis = policy.qi_columns
    # One row per (person, combination): pycanon's row-based k is then k counted in people.
    csv = tmp_path / "people.csv"
    duckdb.sql(
        f"COPY (SELECT DISTINCT viewer_id, {', '.join(qis)} "
        f"FROM read_parquet('{out}/viewing_sessions/*/*.parquet')) TO '{csv}' (HEADER)"
    )
    k = subprocess.run(
        [str(checker), str(ROOT / "tests" / "support" / "checker_pycanon.py"), str(csv), ",".join(qis)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert int(k) == manifest["counts"]["min_class_people"]
    assert int(k) >= policy.privacy.k

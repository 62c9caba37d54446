"""Published bytes are pinned: a generated day gives the recorded extract and manifest.

A refactoring must not change them (the restructuring of issue 12 and the in-memory engine
were checked this way: identical Parquet bytes and manifest figures on four policies and
three Adult settings before and after). A change that alters the output on purpose (a new
policy default, a different generator, a new manifest field) records new digests here and
says why in its commit. Recorded last: history protection (issue 9) changed the generator
(catalogue, habits) and the shipped policy (titles through the catalogue, (k, k^m), epoch day).
Then the manifest gained `anonymization.suppressed_by_value` (suppression by group) and its
warnings (groups suppression hits unevenly); the Parquet digests did not move, and the manifests
without those hash to the digests recorded before. Recorded last (issue 15): the files carry
each column's description as Arrow field metadata, and the minors rule (under 16) drops minors'
plays from the shipped row policy (414 plays here; the search then keeps fine watch-time buckets)
and merges the age bands below 18. For `rows_only` (age published as `*` that night) the rows
are the same as before (EXCEPT ALL both ways empty): only the file metadata and the manifest's
new fields (`minors`, `counts.minor_rows`, `finer_levels`, `cost_driver`) changed.
Then (issue 13) the manifest gained `engine`; without it the manifests hash to the digests
recorded before, and the Parquet digests did not move (the pull's portable tie-breaks and the
strict `started_at` shape change nothing on this day). Then `rows_only`'s manifest: an
infeasible node's suppression counted until the search stopped past the limit is a lower bound
(`finer_levels.*.exact` false, and the cost driver says "at least"); the Parquet did not move.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.support import DAY, ROOT
from tests.support.golden import EXPECTED, GOLDEN_KEY, manifest_digest


@pytest.mark.parametrize("policy", list(EXPECTED), ids=lambda p: p.stem)
def test_a_generated_day_publishes_the_recorded_bytes(raw_day, tmp_path, policy):
    key = tmp_path / "key"
    key.write_text(GOLDEN_KEY)
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "transforms",
            "run",
            "--policy",
            str(policy),
            "--day",
            str(DAY),
            "--raw-root",
            str(raw_day),
            "--out-root",
            str(out),
            "--key-file",
            str(key),
            "--run-id",
            "golden",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    part = out / "viewing_sessions" / f"day={DAY}"
    parquet, manifest_sha = EXPECTED[policy]
    assert hashlib.sha256((part / "part-00000.parquet").read_bytes()).hexdigest() == parquet
    assert manifest_digest(json.loads((part / "_manifest.json").read_text())) == manifest_sha

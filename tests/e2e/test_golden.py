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
strict `started_at` shape change nothing on this day).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.support import DAY, POLICY_PATH, ROOT, ROWS_POLICY_PATH

# `raw_day` (6,000 events, seed 3, 0.4% dirty) through each policy under GOLDEN_KEY.
GOLDEN_KEY = "k1secretk1secretk1secretk1secret!!"
EXPECTED = {
    # policy: (sha256 of part-00000.parquet, sha256 of the manifest without run id and times)
    POLICY_PATH: (
        "8b86eb04ef189a448d7a886dda54b6bb24cad81e9e305cf79155e129c5b1c4cd",
        "ec6b56d142789aef9b3f8c046fb0d1fa923e6fd49e0c3594f1451cdd33141573",
    ),
    ROWS_POLICY_PATH: (
        "f4615cc44fa6c4f7c856419e4b99ca4ee11f3ba4e0cb0e343f27ada09586d796",
        "5ba629c10b68bf7e5849ccf63373f6559437df74419496be27d366584545f7bd",
    ),
}
VOLATILE = ("run_id", "created_at", "stage_seconds")


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
    parquet, manifest_digest = EXPECTED[policy]
    assert hashlib.sha256((part / "part-00000.parquet").read_bytes()).hexdigest() == parquet
    manifest = json.loads((part / "_manifest.json").read_text())
    for field in VOLATILE:
        manifest.pop(field)
    manifest["search"].pop("seconds")
    assert hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest() == manifest_digest

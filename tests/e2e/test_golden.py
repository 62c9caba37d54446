"""Published bytes are pinned: a generated day gives the recorded extract and manifest.

A refactoring must not change them (the restructuring of issue 12 and the in-memory engine
were checked this way: identical Parquet bytes and manifest figures on four policies and
three Adult settings before and after). A change that alters the output on purpose (a new
policy default, a different generator, a new manifest field) records new digests here and
says why in its commit. Recorded last: history protection (issue 9) changed the generator
(catalogue, habits) and the shipped policy (titles through the catalogue, (k, k^m), epoch day).
Then the manifest gained `anonymization.suppressed_by_value` (suppression by group) and its
warnings (groups suppression hits unevenly); the Parquet digests did not move, and the manifests
without those hash to the digests recorded before.
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
        "7bdf5b6a53ad2c1572349bfc11190a19ad196cfb5db704dec3fe70031be78924",
        "74b9532118f3336648991faca1ad0540d0d135bceb28bc7f62f7230ab21104d7",
    ),
    ROWS_POLICY_PATH: (
        "0cf97bb55b592114e28dffffbf1af20b007628a933eab374fae96de4b0b79a4e",
        "319791e0177305fd45b9536dd9aa7c2bb48fefa3210bcf8a24205e9547566704",
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

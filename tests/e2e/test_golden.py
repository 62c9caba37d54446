"""Published bytes are pinned: a generated day gives the recorded extract and manifest.

The digests were recorded from the code before the restructuring of issue 12 (one privacy
engine, stage registry, engine seam); the Parquet file and every manifest figure must stay
the same through moves like it. A change that alters the output on purpose (a new policy
default, a different generator) updates them here, saying why in its commit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from tests.support import DAY, POLICY_PATH, ROOT

# `raw_day` (6,000 events, seed 3, 0.4% dirty) through the default policy under GOLDEN_KEY.
GOLDEN_KEY = "k1secretk1secretk1secretk1secret!!"
PARQUET_SHA256 = "36cf197ddc7629c46b34d904326b72ca40928a70d1019f23900edb3ceaf19326"
# Manifest content without run id, times, and the fields versioning added (manifest_version, kind).
MANIFEST_SHA256 = "aad7c5a219d09a4da23e6e314461d352b84194274524e6c5881fbe958d22ff5c"
VOLATILE = ("run_id", "created_at", "stage_seconds", "manifest_version", "kind")


def test_a_generated_day_publishes_the_recorded_bytes(raw_day, tmp_path):
    key = tmp_path / "key"
    key.write_text(GOLDEN_KEY)
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "transforms", "run", "--policy", str(POLICY_PATH), "--day", str(DAY), "--raw-root",
         str(raw_day), "--out-root", str(out), "--key-file", str(key), "--run-id", "golden"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    part = out / "viewing_sessions" / f"day={DAY}"
    assert hashlib.sha256((part / "part-00000.parquet").read_bytes()).hexdigest() == PARQUET_SHA256
    manifest = json.loads((part / "_manifest.json").read_text())
    assert manifest["manifest_version"] == 1 and manifest["kind"] == "rows"
    for field in VOLATILE:
        manifest.pop(field)
    manifest["search"].pop("seconds")
    assert hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest() == MANIFEST_SHA256

"""The recorded digests of the generated test day's extracts (see tests/e2e/test_golden.py)."""

from __future__ import annotations

import hashlib
import json

from tests.support import POLICY_PATH, ROOT, ROWS_POLICY_PATH

# `raw_day` (6,000 events, seed 3, 0.4% dirty) through each policy under GOLDEN_KEY.
GOLDEN_KEY = "k1secretk1secretk1secretk1secret!!"
EXPECTED = {
    # policy: (sha256 of part-00000.parquet, sha256 of the manifest without run id and times)
    POLICY_PATH: (
        "4de1604b2085fdceb571b9b3b730e677f945239f4e6165a7f470d0eb223d8d4f",
        "1c59627e0b83ab68eead17306edb298f904357b32ded8bce3bf5a88558fba4c2",
    ),
    ROWS_POLICY_PATH: (
        "f4615cc44fa6c4f7c856419e4b99ca4ee11f3ba4e0cb0e343f27ada09586d796",
        "deba7ef58e7b4661866d89be0bc6f7d0aad816d28e0fda4ed26a717062c64035",
    ),
}
#: Manifest fields that change from run to run.
VOLATILE = ("run_id", "created_at", "stage_seconds")

#: The audience tables of the same day under GOLDEN_KEY (recorded 2026-12-07 from a local run; the manifest
#: again 2026-12-08, when small people counts and uncatalogued plays were withheld;
#: checked against the object-store run in tests/e2e/test_object_store.py).
AUDIENCE_POLICY_PATH = ROOT / "policies" / "title_audience.yaml"
AUDIENCE = (
    "5cbacad90c10bdd4c6904be4b8c585c3c9097e9f2f53c6b34b6e6fe22b685996",
    "70b63815d07d70502e8b3c346eec15c531241fddb465a5130ad2b1e3dee9c40a",
)


def manifest_digest(manifest: dict) -> str:
    """sha256 of a manifest without its run id and times (keys sorted)."""
    manifest = dict(manifest)
    for field in VOLATILE:
        manifest.pop(field, None)
    if isinstance(manifest.get("search"), dict):
        manifest["search"] = {k: v for k, v in manifest["search"].items() if k != "seconds"}
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()

"""Publish: the manifest and privacy report into the validated candidate, then one atomic swap.

Reads   the candidate partition in <out-root>/.staging/, every stage's summary
Writes  <out-root>/<export>/day=YYYY-MM-DD/ (data, _manifest.json, _reports/), <out-root>/<export>/_index.html

Staging lives on the extract's filesystem (so the final move is a rename) and outside the
export folder (so readers globbing the export never see it). The partition is replaced in
one atomic exchange (ops/exchange.py); the work folder, which holds raw-derived rows, is
deleted as soon as the extract is in place.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from transforms import storage
from transforms.context import DATA_DOCS, MANIFEST, PRIVACY_REPORT, REPORTS
from transforms.errors import StageOrderError
from transforms.exports import dictionary, kind_of
from transforms.ops.exchange import swap_into_place
from transforms.ops.faults import crash_point
from transforms.reporting.html import dictionary_section, render, write_index, write_report
from transforms.reporting.manifest import warnings, write_manifest
from transforms.runtime import StageRun

log = logging.getLogger(__name__)


def run(s: StageRun) -> dict:
    s.needs("pull", "pseudonymize", "generalize", "anonymize", "validate")
    if not s.stats["validate"]["success"]:
        raise StageOrderError("cannot publish: validation did not pass")
    policy, ctx = s.policy, s.ctx
    kind = kind_of(policy.export_kind)
    layout = ctx.layout
    staging = ctx.staging_dir(policy.export)
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = kind.manifest(ctx, policy, s.stats, created_at)
    limit = policy.privacy.suppression_limit if policy.privacy else None  # aggregates have no row limit
    manifest = manifest.model_copy(update={"warnings": warnings(layout, manifest, limit)})
    for warning in manifest.warnings:
        log.warning("check (not blocking): %s", warning)
    write_manifest(staging, manifest)
    levels = manifest.levels if manifest.kind == "rows" else manifest.dimensions  # fixed for the table kinds
    html_text = render(
        manifest,
        kind.policy_in_words(policy),
        kind.report_cards(manifest),
        kind.report_body(manifest, policy),
        dictionary_section(dictionary.entries(policy, levels), dictionary.SPECIAL_LABELS),
    )
    write_report(staging, html_text)
    crash_point("publish.after_manifest")
    # The kind's private state (published histories) goes live first; it only counts once the
    # partition it describes is published (its digest must match the manifest's).
    with kind.publishing(s, sorted(staging.glob("*.parquet"))):
        crash_point("publish.after_state")
        target = swap_into_place(staging, layout.partition(policy.export, ctx.day))
    # Staging left by earlier crashed runs of this day (the day lock is held: none is running).
    for leftover in staging.parent.glob("*"):
        storage.rmtree(leftover)
    write_index(layout, policy.export)
    # The work folder holds raw-derived rows; it goes as soon as the extract is in place.
    storage.rmtree(s.work.folder)
    out = {
        "partition": str(target),
        "manifest": str(target / MANIFEST),
        "data_docs": str(target / REPORTS / DATA_DOCS / "index.html"),
        "privacy_report": str(target / REPORTS / PRIVACY_REPORT),
        "warnings": len(manifest.warnings),
    }
    c = manifest.counts
    if c is None:  # a DP release: exact counts stay in the private accounting (exports/dp)
        return {**out, "accounting": s.stats["anonymize"].get("accounting_file")}
    return {
        **out,
        "published_rows": c.published_rows,
        "suppressed_rows": c.suppressed_rows,
        "rejected_rows": c.rejected_rows,
        "minor_rows": c.minor_rows,
        "input_rows": c.input_rows,
    }

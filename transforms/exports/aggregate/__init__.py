"""The `aggregate` export: audience tables of cells with primary and secondary suppression."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transforms.exports.aggregate import extract, protect, report
from transforms.exports.base import ExportKind


class AggregateExport(ExportKind):
    name = "aggregate"

    def protect(self, s) -> dict[str, Any]:
        return protect.run(s)

    def write_extract(self, s, folder: Path) -> list[Path]:
        return extract.write(s, folder)

    def validation_frames(self, backend, policy, files, stats):
        return extract.frames(backend, policy, files, stats)

    def suites(self, policy, stats):
        from expectations.aggregate import build_suites

        return build_suites(policy, extract.published_columns(policy))

    def accounting(self, stats: dict) -> dict[str, int]:
        anon = stats["anonymize"]
        return {
            "input_rows": stats["pull"]["input_rows"],
            "suppressed_rows": anon["plays_counted"] - anon["plays_visible"] + anon["plays_clipped"],
            "rejected_rows": stats["pull"]["rejected_rows"],
            "minor_rows": stats["pull"].get("minor_rows", 0),
        }

    def manifest(self, ctx, policy, stats, created_at):
        return report.build_manifest(ctx, policy, stats, created_at)

    def policy_in_words(self, policy) -> list[str]:
        return report.policy_in_words(policy)

    def report_cards(self, manifest) -> str:
        return report.cards(manifest)

    def report_body(self, manifest, policy) -> str:
        return report.body(manifest, policy)

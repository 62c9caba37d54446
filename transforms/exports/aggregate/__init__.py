"""The `aggregate` export: audience tables of cells with primary and secondary suppression."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transforms.exports.aggregate import extract, protect, report
from transforms.exports.base import ExportKind


class AggregateExport(ExportKind):
    name = "aggregate"
    report = report

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

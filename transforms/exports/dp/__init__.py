"""The `dp` export: a differentially private audience release (aggregate policies with
`protection: dp`), its budget kept in a ledger across nights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transforms import storage
from transforms.context import DATA_FILE
from transforms.exports.base import ExportKind
from transforms.exports.dp import protect, report


class DpExport(ExportKind):
    name = "dp"
    report = report

    def protect(self, s) -> dict[str, Any]:
        return protect.run(s)

    def write_extract(self, s, folder: Path) -> list[Path]:
        """The stored release's table, byte for byte (a rerun publishes the same bytes)."""
        path = folder / DATA_FILE
        storage.copyfile(storage.location(s.stats["anonymize"]["release_dir"]) / DATA_FILE, path)
        return [path]

    def validation_frames(self, backend, policy, files, stats):
        return report.frames(backend, policy, files, stats)

    def suites(self, policy, stats):
        from expectations.dp import build_suites

        return build_suites(policy, stats)

    def accounting(self, stats: dict) -> dict[str, int]:
        a = stats["anonymize"]["accounting"]
        return {
            "input_rows": stats["pull"]["input_rows"],
            "suppressed_rows": a["plays_in"] - a["plays_counted"],
            "rejected_rows": stats["pull"]["rejected_rows"],
            "minor_rows": stats["pull"].get("minor_rows", 0),
        }

    def purge(self, s) -> int:
        return protect.purge_state(s.ctx.layout, s.policy, s.ctx.day_date)

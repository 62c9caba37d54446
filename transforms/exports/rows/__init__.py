"""The `rows` export: one row per published play, k-anonymous in people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transforms.exports.base import ExportKind
from transforms.exports.rows import extract, history, protect, report


class RowsExport(ExportKind):
    name = "rows"

    def protect(self, s) -> dict[str, Any]:
        return protect.run(s)

    def write_extract(self, s, folder: Path) -> list[Path]:
        return extract.write(s, folder)

    def validation_frames(self, backend, policy, files, stats):
        return extract.frames(backend, policy, files, self.accounting(stats))

    def suites(self, policy, stats):
        from expectations.rows import build_suites

        return build_suites(policy, policy.hierarchies(), stats["anonymize"]["level_numbers"])

    def accounting(self, stats: dict) -> dict[str, int]:
        return {
            "input_rows": stats["pull"]["input_rows"],
            "suppressed_rows": stats["anonymize"]["suppressed_rows"],
            "rejected_rows": stats["pull"]["rejected_rows"],
        }

    def before_publish(self, s, files: list[Path]) -> Path | None:
        """Write tonight's history state (private), ready to go live with the partition."""
        if not s.policy.privacy.history:
            return None
        nights = history.history_set(s.ctx.layout, s.policy, s.ctx.day_date)
        return history.write_state(
            s.backend, s.ctx.layout, s.policy, s.ctx.day_date, files, s.work.persons, nights, s.ctx.run_slug
        )

    def commit(self, s, staged_state: Path | None) -> None:
        if staged_state is not None:
            history.commit_state(s.ctx.layout, s.policy.export, s.ctx.day, staged_state)

    def purge(self, s) -> int:
        return len(history.purge_states(s.ctx.layout, s.policy, s.ctx.day_date))

    def manifest(self, ctx, policy, stats, created_at):
        return report.build_manifest(ctx, policy, stats, created_at)

    def policy_in_words(self, policy) -> list[str]:
        return report.policy_in_words(policy)

    def report_cards(self, manifest) -> str:
        return report.cards(manifest)

    def report_body(self, manifest, policy) -> str:
        return report.body(manifest, policy)

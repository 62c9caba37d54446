"""The `rows` export: one row per published play, k-anonymous in people."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transforms.exports.base import ExportKind
from transforms.exports.rows import extract, history, protect, report


class RowsExport(ExportKind):
    name = "rows"
    report = report

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
            "minor_rows": stats["pull"].get("minor_rows", 0),
        }

    @contextmanager
    def publishing(self, s, files: list[Path]) -> Iterator[None]:
        """Tonight's history state (private) goes live just before the partition, under the
        epoch's lock, after checking that the nights it was protected against are unchanged."""
        policy, layout = s.policy, s.ctx.layout
        if not policy.privacy.history:
            yield
            return
        with history.epoch_lock(layout, policy, s.ctx.day_date):
            nights = history.confirm_set(layout, policy, s.ctx.day_date, s.stats["anonymize"]["history"])
            staged = history.write_state(
                s.backend,
                layout,
                policy,
                s.ctx.day_date,
                files,
                s.work.persons,
                nights,
                s.ctx.run_slug,
                s.work.decision / history.FINEST,
            )
            history.commit_state(layout, policy.export, s.ctx.day, staged)
            yield
            history.drop_previous(layout, policy.export, s.ctx.day)

    def purge(self, s) -> int:
        return len(history.purge_states(s.ctx.layout, s.policy, s.ctx.day_date))

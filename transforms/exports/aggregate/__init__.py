"""The `aggregate` export: audience tables of cells with primary and secondary suppression."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transforms.context import MANIFEST
from transforms.errors import PrivacyError
from transforms.exports.aggregate import extract, protect, report
from transforms.exports.base import ExportKind
from transforms.reporting.manifest import read_manifest

#: Set to 1 to publish a night's table again when it differs from the published one (only when
#: nobody can have read the first: the two versions' difference is not protected).
ENV_REPUBLISH = "EXPORT_REPUBLISH_CHANGED"


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

    @contextmanager
    def publishing(self, s, files: list[Path]) -> Iterator[None]:
        """A night published again must be the same table. Two versions of one night differ in
        the cells that changed, and that difference can count fewer than `min_viewers` people
        (one re-delivered play changed four cells, the finest of them suppressed in both): so a
        different table is refused unless `EXPORT_REPUBLISH_CHANGED=1` says nobody read the
        first. A rerun on the same data gives the same bytes and goes through."""
        published = read_manifest(s.ctx.layout.manifest(s.policy.export, s.ctx.day))
        if published is not None and os.environ.get(ENV_REPUBLISH) != "1":
            # Tonight's digests are in the staged manifest publish has just written beside `files`.
            staged = read_manifest(s.ctx.staging_dir(s.policy.export) / MANIFEST)
            if staged is None or _digests(published) != _digests(staged):
                raise PrivacyError(
                    f"{s.policy.export} for {s.ctx.day} is already published and tonight's table differs (the "
                    "raw day or the policy changed): subtracting the two versions could reveal cells suppressed "
                    f"in both. Nothing was published. If nobody has read the published table, set "
                    f"{ENV_REPUBLISH}=1 and run again; otherwise keep the published one"
                )
        yield

    def accounting(self, stats: dict) -> dict[str, int]:
        anon = stats["anonymize"]
        return {
            "input_rows": stats["pull"]["input_rows"],
            "suppressed_rows": anon["plays_counted"] - anon["plays_visible"] + anon["plays_clipped"],
            "rejected_rows": stats["pull"]["rejected_rows"],
            "minor_rows": stats["pull"].get("minor_rows", 0),
        }


def _digests(manifest) -> dict[str, str]:
    return {f.path: f.sha256 for f in manifest.files}

"""What an export kind provides to the shared stages.

Pull, pseudonymize, generalize, validate, publish and purge are the same for every kind; a
kind brings the parts that differ: its protect step (the anonymize stage), how its extract
is written from the protected data, the frames and suites that validate it, its manifest and
its sections of the privacy report.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd

    from transforms.backends import Backend
    from transforms.config.policy import Policy
    from transforms.context import RunContext
    from transforms.reporting.manifest import Manifest
    from transforms.runtime import StageRun


class ExportKind(ABC):
    name: str

    @abstractmethod
    def protect(self, s: StageRun) -> dict[str, Any]:
        """The anonymize stage: decide what is published; return a small summary."""

    @abstractmethod
    def write_extract(self, s: StageRun, folder: Path) -> list[Path]:
        """Write the candidate extract's data files into `folder` (the staging partition)."""

    @abstractmethod
    def validation_frames(
        self, backend: Backend, policy: Policy, files: list[Path], stats: dict
    ) -> dict[str, pd.DataFrame]:
        """Small frames (bounded by distinct values, not rows) the suites validate."""

    @abstractmethod
    def suites(self, policy: Policy, stats: dict) -> dict[str, Any]:
        """Great Expectations suites keyed by the frame each validates."""

    @abstractmethod
    def accounting(self, stats: dict) -> dict[str, int]:
        """input_rows, suppressed_rows, rejected_rows, minor_rows: what the published rows must reconcile with."""

    @contextmanager
    def publishing(self, s: StageRun, files: list[Path]) -> Iterator[None]:
        """Around the partition swap: make the kind's private state for tonight current (e.g.
        published histories) and hold what keeps it consistent. Most kinds keep no state."""
        yield

    def purge(self, s: StageRun) -> int:
        """Remove the kind's private state past retention; return how many items went."""
        return 0

    #: The kind's report module: build_manifest, policy_in_words, cards and body (exports/<kind>/report.py).
    report: ClassVar[ModuleType]

    def manifest(self, ctx: RunContext, policy: Policy, stats: dict, created_at: str) -> Manifest:
        """The night's manifest (without warnings and file digests, added at publish)."""
        return self.report.build_manifest(ctx, policy, stats, created_at)

    def policy_in_words(self, policy: Policy) -> list[str]:
        """What the policy does, one HTML sentence per item, for the report."""
        return self.report.policy_in_words(policy)

    def report_cards(self, manifest: Manifest) -> str:
        """The kind's summary cards (HTML)."""
        return self.report.cards(manifest)

    def report_body(self, manifest: Manifest, policy: Policy) -> str:
        """The kind's sections of the privacy report (HTML)."""
        return self.report.body(manifest, policy)

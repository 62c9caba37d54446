"""What every stage receives: its run context, the policy, earlier stages' summaries, an engine.

Shared by the stages (transforms/stages/) and the export kinds' steps (transforms/exports/).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from transforms.backends import Backend, open_backend
from transforms.backends.base import protocol_of
from transforms.config.policy import Policy
from transforms.context import RunContext, WorkFiles
from transforms.ops.keys import KeyRing
from transforms.storage import filesystem, is_remote, location


@dataclass
class StageRun:
    """One stage of one run: its context, the policy, earlier stages' summaries, an engine."""

    ctx: RunContext
    policy: Policy
    stats: dict[str, dict[str, Any]]
    ring: KeyRing | None = None
    _opened: list[Backend] = field(default_factory=list)
    _scratches: list[str] = field(default_factory=list)

    @property
    def work(self) -> WorkFiles:
        return self.ctx.work(self.policy.export)

    @cached_property
    def backend(self) -> Backend:
        roots = [
            location(r) for r in (self.ctx.raw_root, self.ctx.out_root, self.ctx.work_root, self.ctx.quarantine_root)
        ]
        remote = {protocol_of(fs): fs for fs in map(filesystem, roots) if fs}
        # The engine's spill space is local scratch: with the work location on a store, a temp folder.
        spill = self.work.tmp if not is_remote(self.work.folder) else Path(self._scratch())
        backend = open_backend(self.ctx.engine, spill)
        self._opened.append(backend)
        for fs in remote.values():
            backend.use_filesystem(fs)
        return backend

    def _scratch(self) -> str:
        folder = tempfile.mkdtemp(prefix="viewing-export-spill-")
        self._scratches.append(folder)
        return folder

    def close(self) -> None:
        for backend in self._opened:
            backend.close()
        self._opened.clear()
        for folder in self._scratches:
            shutil.rmtree(folder, ignore_errors=True)
        self._scratches.clear()

    def needs(self, *stages: str) -> None:
        """Stop with a clear error when a stage this one reads from has not run."""
        from transforms.errors import StageOrderError

        missing = [s for s in stages if s not in self.stats]
        if missing:
            raise StageOrderError(
                f"stage needs {missing} to have run first for run {self.ctx.run_id}; run the stages in order "
                "(the DAG does) or run the whole export with `python -m transforms run`"
            )

"""What every stage receives: its run context, the policy, earlier stages' summaries, an engine.

Shared by the stages (transforms/stages/) and the export kinds' steps (transforms/exports/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from transforms.backends import Backend, open_backend
from transforms.config.policy import Policy
from transforms.context import RunContext, WorkFiles
from transforms.ops.keys import KeyRing


@dataclass
class StageRun:
    """One stage of one run: its context, the policy, earlier stages' summaries, an engine."""

    ctx: RunContext
    policy: Policy
    stats: dict[str, dict[str, Any]]
    ring: KeyRing | None = None
    _opened: list[Backend] = field(default_factory=list)

    @property
    def work(self) -> WorkFiles:
        return self.ctx.work(self.policy.export)

    @cached_property
    def backend(self) -> Backend:
        backend = open_backend(self.ctx.engine, self.work.tmp)
        self._opened.append(backend)
        return backend

    def close(self) -> None:
        for backend in self._opened:
            backend.close()
        self._opened.clear()

    def needs(self, *stages: str) -> None:
        """Stop with a clear error when a stage this one reads from has not run."""
        from transforms.errors import StageOrderError

        missing = [s for s in stages if s not in self.stats]
        if missing:
            raise StageOrderError(
                f"stage needs {missing} to have run first for run {self.ctx.run_id}; run the stages in order "
                "(the DAG does) or run the whole export with `python -m transforms run`"
            )

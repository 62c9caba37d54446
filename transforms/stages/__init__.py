"""The stages of a nightly run, in the order the data travels.

    pull -> pseudonymize -> generalize -> anonymize -> validate -> publish -> purge

Each stage is the module of the same name here, with `run(StageRun) -> summary`; `anonymize`
hands over to the export kind's protect step (exports/<kind>/protect.py). `STAGES` is the one
ordered registry the runner, the CLI and the DAG factory read. Stage modules are imported
when a stage runs, so reading the registry (as a DAG file does at parse time) is cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stage:
    name: str
    #: Holds the export-day lock (it changes published state).
    locked: bool = False
    #: Receives the key ring (the only stage that may).
    needs_key: bool = False
    #: Works in the run's work folder (the runner creates it and saves the stats there).
    uses_work: bool = True

    @property
    def run(self) -> Callable[[Any], dict[str, Any]]:
        return importlib.import_module(f"transforms.stages.{self.name}").run


STAGES: tuple[Stage, ...] = (
    Stage("pull"),
    Stage("pseudonymize", needs_key=True),
    Stage("generalize"),
    Stage("anonymize"),
    Stage("validate"),
    Stage("publish", locked=True),
    Stage("purge", locked=True, uses_work=False),
)
NAMES = tuple(s.name for s in STAGES)


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise ValueError(f"unknown stage {name!r}; stages are {', '.join(NAMES)}")

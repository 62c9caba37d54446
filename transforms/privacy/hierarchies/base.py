"""The interface every generalization hierarchy implements, and the base of their policy specs.

A hierarchy maps one source value (a tuple when it reads several columns) to one label per
level, from level 0 (the finest published form) to the top level "*" (fully suppressed).
Python only ever sees distinct source values; the engine joins the resulting lookup table.

Each kind lives in one module: its spec (the policy's parameters, validated by pydantic) and
its operator (what it does to a value). `spec.build(resolve)` makes the operator; `resolve`
turns a path named in the policy into a real path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from transforms.errors import PolicyError

TOP = "*"
Resolver = Callable[[str], Path]


class Hierarchy(ABC):
    """Generalization levels for one quasi-identifier."""

    #: Names of levels 0..n; the last one is always "*".
    level_names: list[str]
    #: Columns a label carries besides itself (published with it when the policy asks).
    companions: tuple[str, ...] = ()
    #: Day data the hierarchy reads (e.g. "catalogue"); given by `bind` before `labels`.
    needs: tuple[str, ...] = ()

    @abstractmethod
    def labels(self, value: Hashable) -> list[str]:
        """Labels of `value` at every level, level 0 first, "*" last."""

    def companion_values(self, value: Hashable) -> list[dict[str, str]]:
        """Each companion's value at every level (empty dicts when there are none)."""
        return [{} for _ in self.level_names]

    def labelled(self, value: Hashable) -> tuple[list[str], list[tuple[str, ...]]]:
        """`labels(value)` and, per level, the companions' values in `companions` order (an
        empty list without companions): one call per distinct value when a lookup is built."""
        if not self.companions:
            return self.labels(value), []
        per_level = self.companion_values(value)
        return self.labels(value), [tuple(c[name] for name in self.companions) for c in per_level]

    def bind(self, data: dict[str, object]) -> None:  # noqa: B027 (a hook; most hierarchies need no day data)
        """Receive the day data named in `needs` (the title catalogue, ...)."""

    def domain(self, level: int) -> list[str] | None:
        """Every label the level can produce, or None when the level is open (raw values)."""
        return [TOP] if level == len(self.level_names) - 1 else None

    def explain(self, level: int) -> str:
        """The labels of `level` in words, for the data dictionary (report, Parquet metadata)."""
        if level == self.height - 1:
            return "`*` (any value: the attribute is not broken down)"
        labels = self.domain(level)
        if labels is None:
            return f"the {self.level_names[level]} as delivered"
        shown = ", ".join(labels[:24]) + (f", … ({len(labels)} in all)" if len(labels) > 24 else "")
        return shown

    def companion_domain(self, companion: str, level: int) -> list[str] | None:
        """Every value a companion can take at `level`, or None when open."""
        return None

    def costs(self, level: int) -> dict[str, float] | None:
        """Loss cost of each label at `level` fixed by the hierarchy, or None to count the day's values.

        ARX prices a label covering m of the hierarchy's n leaves at (m-1)/(n-1); hierarchies
        with a closed list of leaves (ARX files) say so here, open ones (ages, device models)
        are priced on the distinct values seen in the data.
        """
        return None

    @property
    def height(self) -> int:
        return len(self.level_names)

    def level_index(self, level: str | int, qi: str = "") -> int:
        """Resolve a level given by name or number; the error lists the valid names."""
        if isinstance(level, int):
            if 0 <= level < self.height:
                return level
        elif level in self.level_names:
            return self.level_names.index(level)
        raise PolicyError(
            f"quasi_identifiers.{qi}: level {level!r} does not exist; "
            f"choose one of {self.level_names} or 0..{self.height - 1}"
        )


class Spec(BaseModel):
    """A hierarchy as the policy states it; `type` selects the kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def build(self, resolve: Resolver) -> Hierarchy:
        raise NotImplementedError

    def files(self) -> list[str]:
        """Paths this spec reads (they are part of the policy's digest)."""
        return []

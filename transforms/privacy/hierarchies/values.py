"""Categorical codes kept as they are or suppressed: gender, plan."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal

from pydantic import Field

from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec


class ValuesSpec(Spec):
    type: Literal["values"]
    values: list[str] = Field(min_length=1)
    null_label: str = "unknown"
    other_label: str = "other"

    def build(self, resolve: Resolver) -> Hierarchy:
        return ValuesOperator(self)


class ValuesOperator(Hierarchy):
    def __init__(self, spec: ValuesSpec) -> None:
        self.spec = spec
        self.level_names = ["value", TOP]
        self._known = set(spec.values)

    def labels(self, value: Hashable) -> list[str]:
        if value is None or value == "":
            return [self.spec.null_label, TOP]
        # Unknown codes are folded into one label so a typo cannot single a person out.
        return [value if value in self._known else self.spec.other_label, TOP]  # type: ignore[list-item]

    def domain(self, level: int) -> list[str] | None:
        if level == 0:
            return [*self.spec.values, self.spec.null_label, self.spec.other_label]
        return [TOP]

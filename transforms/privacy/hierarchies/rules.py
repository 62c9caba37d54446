"""Free text into classes by ordered regular expressions, then up through parent maps.

Device models such as "Samsung QN90A TV" or "Chrome 131 on Windows" become a device class,
then a screen type. Rules rather than a closed list so that next month's models still land
in a class.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Literal

from pydantic import Field, field_validator, model_validator

from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec


class ParentLevel(Spec):
    name: str
    map: dict[str, str]


class Rule(Spec):
    match: str
    value: str

    @field_validator("match")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {v!r}: {exc}") from exc
        return v


class RulesSpec(Spec):
    type: Literal["rules"]
    level_name: str = "class"
    rules: list[Rule] = Field(min_length=1)
    default: str = "other"
    parents: list[ParentLevel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _parents_cover(self) -> RulesSpec:
        known = {r.value for r in self.rules} | {self.default}
        for parent in self.parents:
            missing = sorted(known - set(parent.map))
            if missing:
                raise ValueError(
                    f"parent level {parent.name!r} does not map {missing}; map every value of the level below"
                )
            known = set(parent.map.values())
        return self

    def build(self, resolve: Resolver) -> Hierarchy:
        return RulesOperator(self)


class RulesOperator(Hierarchy):
    def __init__(self, spec: RulesSpec) -> None:
        self.spec = spec
        self.level_names = ["value", spec.level_name, *(p.name for p in spec.parents), TOP]
        self._rules = [(re.compile(r.match), r.value) for r in spec.rules]

    def classify(self, value: str | None) -> str:
        if value:
            for pattern, cls in self._rules:
                if pattern.search(value):
                    return cls
        return self.spec.default

    def labels(self, value: Hashable) -> list[str]:
        text = None if value is None else str(value)
        cls = self.classify(text)
        out = [text if text else self.spec.default, cls]
        for parent in self.spec.parents:
            cls = parent.map[cls]
            out.append(cls)
        out.append(TOP)
        return out

    def explain(self, level: int) -> str:
        if 2 <= level < self.height - 1:
            grouped: dict[str, list[str]] = {}
            for child, parent in self.spec.parents[level - 2].map.items():
                grouped.setdefault(parent, []).append(child)
            return ", ".join(f"{p} ({', '.join(cs)})" for p, cs in sorted(grouped.items()))
        return super().explain(level)

    def domain(self, level: int) -> list[str] | None:
        if level == 0:
            return None
        if level == 1:
            return sorted({v for _, v in self._rules} | {self.spec.default})
        if level == self.height - 1:
            return [TOP]
        return sorted(set(self.spec.parents[level - 2].map.values()))

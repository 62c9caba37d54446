"""Codes and ISO dates cut to shorter prefixes: postal codes, product codes, dates (day -> month -> year)."""

from __future__ import annotations

from collections.abc import Hashable
from itertools import pairwise
from typing import Literal

from pydantic import Field, field_validator

from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec


class PrefixSpec(Spec):
    """Lengths [7, 4]: 2026-11-23 -> 2026-11 -> 2026."""

    type: Literal["prefix"]
    lengths: list[int] = Field(min_length=1)
    mask: bool = False  # pad with "*" to the original length: 10115 -> 101**

    @field_validator("lengths")
    @classmethod
    def _decreasing(cls, v: list[int]) -> list[int]:
        if any(b >= a for a, b in pairwise(v)) or any(x < 1 for x in v):
            raise ValueError("prefix lengths must be positive and strictly decreasing")
        return v

    def build(self, resolve: Resolver) -> Hierarchy:
        return PrefixOperator(self)


class PrefixOperator(Hierarchy):
    def __init__(self, spec: PrefixSpec) -> None:
        self.spec = spec
        self.level_names = ["value", *(f"prefix_{n}" for n in spec.lengths), TOP]

    def labels(self, value: Hashable) -> list[str]:
        if value is None or str(value) == "":
            return ["unknown"] * (self.height - 1) + [TOP]
        text = str(value)
        out = [text]
        for n in self.spec.lengths:
            cut = text[:n]
            out.append(cut + "*" * max(0, len(text) - n) if self.spec.mask else cut)
        return [*out, TOP]

"""Codes and ISO dates cut to shorter prefixes: postal codes, product codes, dates (day -> month -> year)."""

from __future__ import annotations

from collections.abc import Hashable

from transforms.hierarchies.base import TOP, Hierarchy
from transforms.policy import PrefixHierarchy


class PrefixOperator(Hierarchy):
    def __init__(self, spec: PrefixHierarchy) -> None:
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

"""Distinct l-diversity: every published combination holds at least l values of the sensitive column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from transforms.privacy.models.base import Model


@dataclass(frozen=True)
class LDiversity(Model):
    l: int  # noqa: E741 (the l of l-diversity)
    column: str
    name = "distinct l-diversity"
    needs = frozenset({"l_values"})

    def __post_init__(self) -> None:
        if self.l < 2:
            raise ValueError(f"l must be at least 2, not {self.l}")

    def violates(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        return stats["l_values"] < self.l

    def describe(self) -> str:
        return f"every published combination holds at least {self.l} distinct values of {self.column}"

"""k-anonymity counted in people: every published combination is shared by at least k persons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from transforms.privacy.models.base import Model


@dataclass(frozen=True)
class KAnonymity(Model):
    k: int
    name = "k-anonymity"
    needs = frozenset({"people"})

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"k must be at least 2, not {self.k}")

    def violates(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        return stats["people"] < self.k

    def describe(self) -> str:
        return f"every published combination is shared by at least {self.k} distinct people"

"""k-anonymity counted in people: every published combination is shared by at least k persons."""

from __future__ import annotations

from dataclasses import dataclass

from transforms.privacy.models.base import Model


@dataclass(frozen=True)
class KAnonymity(Model):
    k: int
    name = "k-anonymity"

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"k must be at least 2, not {self.k}")

    @property
    def predicate(self) -> str:
        return "people < $k"

    @property
    def params(self) -> dict[str, int]:
        return {"k": self.k}

    def violates(self, people: int) -> bool:
        return people < self.k

    def describe(self) -> str:
        return f"every published combination is shared by at least {self.k} distinct people"

"""Distinct l-diversity: every published combination holds at least l values of the sensitive column."""

from __future__ import annotations

from dataclasses import dataclass

from transforms.privacy.models.base import Model


@dataclass(frozen=True)
class LDiversity(Model):
    l: int  # noqa: E741 (the l of l-diversity)
    column: str
    name = "distinct l-diversity"

    def __post_init__(self) -> None:
        if self.l < 2:
            raise ValueError(f"l must be at least 2, not {self.l}")

    @property
    def predicate(self) -> str:
        return "l_values < $l"

    @property
    def params(self) -> dict[str, int]:
        return {"l": self.l}

    def violates(self, distinct_values: int) -> bool:
        return distinct_values < self.l

    def describe(self) -> str:
        return f"every published combination holds at least {self.l} distinct values of {self.column}"

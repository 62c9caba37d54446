"""The interface of a privacy model."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Model(ABC):
    name: str

    @property
    @abstractmethod
    def predicate(self) -> str:
        """SQL over the class statistics, true when the class violates the model."""

    @property
    @abstractmethod
    def params(self) -> dict[str, int]:
        """The bound parameters the predicate uses."""

    @abstractmethod
    def describe(self) -> str:
        """The guarantee in plain words, for reports."""

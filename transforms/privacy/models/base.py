"""The interface of a privacy model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import numpy as np


class Model(ABC):
    name: str
    #: The per-class statistics `violates` reads (`people`, `l_values`); empty for a model the
    #: engine enforces on whole histories rather than per class.
    needs: frozenset[str] = frozenset()

    def violates(self, stats: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Per class: does it violate the model? `stats` holds one array per name in `needs`.
        None for a model that is not a rule on classes."""
        return None

    @abstractmethod
    def describe(self) -> str:
        """The guarantee in plain words, for reports."""

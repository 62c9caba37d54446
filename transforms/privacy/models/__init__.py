"""Privacy models: each says, once, when a class (a published combination) violates it.

A model names the class statistics it reads and renders its rule as a SQL predicate over
them (bound parameters only). The engine suppresses a class that violates any model; the
search, the apply step and the CSV engine all use these same rules.

Class statistics available to predicates: `people` (distinct persons), `rows`, `l_values`
(distinct values of the sensitive column, when one is set).
"""

from __future__ import annotations

from transforms.privacy.models.base import Model
from transforms.privacy.models.k_anonymity import KAnonymity
from transforms.privacy.models.l_diversity import LDiversity


def violated_sql(models: list[Model]) -> str:
    """One predicate: the class violates at least one model."""
    return " OR ".join(f"({m.predicate})" for m in models)


def params(models: list[Model]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in models:
        out.update(m.params)
    return out


__all__ = ["KAnonymity", "LDiversity", "Model", "params", "violated_sql"]

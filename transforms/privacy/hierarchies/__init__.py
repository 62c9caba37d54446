"""Generalization hierarchies: one module per kind, each with its policy spec and its operator.

`HierarchySpec` is the policy's `hierarchy:` block (pydantic picks the kind by `type`);
`spec.build(resolve)` gives the operator the engine uses.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from transforms.privacy.hierarchies.arx import ArxOperator, ArxSpec
from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec
from transforms.privacy.hierarchies.intervals import IntervalsSpec
from transforms.privacy.hierarchies.ip_prefix import IpPrefixSpec
from transforms.privacy.hierarchies.location import LocationSpec
from transforms.privacy.hierarchies.prefix import PrefixSpec
from transforms.privacy.hierarchies.rules import RulesSpec
from transforms.privacy.hierarchies.titles import TitlesSpec
from transforms.privacy.hierarchies.values import ValuesSpec

HierarchySpec = Annotated[
    IntervalsSpec | ValuesSpec | LocationSpec | RulesSpec | ArxSpec | IpPrefixSpec | PrefixSpec | TitlesSpec,
    Field(discriminator="type"),
]

__all__ = ["TOP", "ArxOperator", "Hierarchy", "HierarchySpec", "Resolver", "Spec"]

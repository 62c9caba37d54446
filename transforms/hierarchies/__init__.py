"""Generalization hierarchies: one operator per kind, built from the policy by `build`."""

from __future__ import annotations

from transforms.hierarchies.arx import ArxOperator
from transforms.hierarchies.base import TOP, Hierarchy
from transforms.hierarchies.intervals import IntervalsOperator
from transforms.hierarchies.ip_prefix import IpPrefixOperator
from transforms.hierarchies.location import LocationOperator
from transforms.hierarchies.prefix import PrefixOperator
from transforms.hierarchies.rules import RulesOperator
from transforms.hierarchies.values import ValuesOperator
from transforms.policy import Policy, QuasiIdentifier

__all__ = ["TOP", "Hierarchy", "build", "build_all", "level_range"]


def build(qi: QuasiIdentifier, policy: Policy) -> Hierarchy:
    spec = qi.hierarchy
    if spec.type == "intervals":
        return IntervalsOperator(spec)
    if spec.type == "values":
        return ValuesOperator(spec)
    if spec.type == "rules":
        return RulesOperator(spec)
    if spec.type == "location":
        return LocationOperator(policy.resolve(spec.reference))
    if spec.type == "prefix":
        return PrefixOperator(spec)
    if spec.type == "ip_prefix":
        return IpPrefixOperator()
    if spec.type == "arx":
        return ArxOperator(policy.resolve(spec.file), spec.level_names)
    raise AssertionError(f"unhandled hierarchy type {spec.type}")  # pydantic rejects others


def build_all(policy: Policy) -> dict[str, Hierarchy]:
    """Every quasi-identifier's hierarchy, keyed by published column, levels checked."""
    out = {}
    for qi in policy.quasi_identifiers:
        h = build(qi, policy)
        level_range(qi, h)
        out[qi.column] = h
    return out


def level_range(qi: QuasiIdentifier, h: Hierarchy) -> tuple[int, int]:
    """The levels the search may choose for `qi` (one level when the policy fixes it)."""
    if qi.level != "auto":
        fixed = h.level_index(qi.level, qi.column)
        return fixed, fixed
    lo = 0 if qi.min_level is None else h.level_index(qi.min_level, qi.column)
    hi = h.height - 1 if qi.max_level is None else h.level_index(qi.max_level, qi.column)
    if lo > hi:
        from transforms.errors import PolicyError

        raise PolicyError(f"quasi_identifiers.{qi.column}: min_level is above max_level")
    return lo, hi

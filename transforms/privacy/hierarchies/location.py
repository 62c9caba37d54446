"""Postal code -> city -> region -> country, from a reference table of known cities.

The reference (CSV: country;region;city;postal_pattern;weight) lists the cities the policy
can publish by name. A city not in it is published as "other, <country>" at the city and
region levels, so a misspelt or rare place never becomes a label of its own; a country not in
it becomes "other" at every level.
"""

from __future__ import annotations

import csv
from collections.abc import Hashable
from pathlib import Path
from typing import Literal

from transforms.errors import PolicyError
from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec

OTHER = "other"


def read_reference(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter=";"))
    except OSError as exc:
        raise PolicyError(f"cannot read location reference {path}: {exc.strerror}") from None
    need = {"country", "region", "city"}
    if not rows or not need <= set(rows[0]):
        raise PolicyError(f"location reference {path} needs the columns {sorted(need)}")
    return rows


class LocationSpec(Spec):
    type: Literal["location"]
    reference: str

    def build(self, resolve: Resolver) -> Hierarchy:
        return LocationOperator(resolve(self.reference))

    def files(self) -> list[str]:
        return [self.reference]


class LocationOperator(Hierarchy):
    def __init__(self, reference: Path) -> None:
        self.level_names = ["postal_code", "city", "region", "country", TOP]
        self.rows = read_reference(reference)
        self._region = {(r["country"], r["city"]): r["region"] for r in self.rows}
        self._countries = sorted({r["country"] for r in self.rows})

    def labels(self, value: Hashable) -> list[str]:
        country, city, postal = value  # type: ignore[misc]
        if country not in self._countries:
            return [OTHER, OTHER, OTHER, OTHER, TOP]
        region = self._region.get((country, city))
        if region is None:
            city_label = region_label = f"{OTHER}, {country}"
        else:
            city_label, region_label = f"{city}, {country}", f"{region}, {country}"
        postal_label = f"{country} {postal}" if postal else f"{country} unknown"
        return [postal_label, city_label, region_label, country, TOP]

    def explain(self, level: int) -> str:
        return [
            "`CC postal code`",
            "`City, CC` (a city of the reference table; `other, CC` for any other city of the country)",
            "`Region, CC` (`other, CC` for a city outside the reference table)",
            "`CC`, the ISO 3166 country code (`other` for a country outside the reference table)",
            "`*` (anywhere)",
        ][level]

    def domain(self, level: int) -> list[str] | None:
        if level == 0:
            return None
        others = [f"{OTHER}, {c}" for c in self._countries] + [OTHER]
        if level == 1:
            return sorted({f"{r['city']}, {r['country']}" for r in self.rows}) + others
        if level == 2:
            return sorted({f"{r['region']}, {r['country']}" for r in self.rows}) + others
        if level == 3:
            return [*self._countries, OTHER]
        return [TOP]

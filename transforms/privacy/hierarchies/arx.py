"""Hierarchies in the ARX CSV format: one row per original value, level 0 to the top.

The separator (`;` or `,`) is detected. Values not in the file generalize to "*" at every
level above 0, so an unexpected value is never published at a level that names it.
"""

from __future__ import annotations

import csv
from collections.abc import Hashable
from pathlib import Path
from typing import Literal

from transforms.errors import PolicyError
from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec


def read_arx(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read hierarchy {path}: {exc.strerror}") from None
    first = text.splitlines()[0] if text else ""
    sep = ";" if first.count(";") >= first.count(",") else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=sep) if row]
    if not rows:
        raise PolicyError(f"hierarchy {path} is empty")
    width = len(rows[0])
    bad = [i + 1 for i, row in enumerate(rows) if len(row) != width]
    if bad:
        raise PolicyError(f"hierarchy {path}: rows {bad[:5]} do not have {width} levels")
    return rows


class ArxSpec(Spec):
    """ARX format: one row per original value, level 0 to the most general, `;` or `,`."""

    type: Literal["arx"]
    file: str
    level_names: list[str] | None = None

    def build(self, resolve: Resolver) -> Hierarchy:
        return ArxOperator(resolve(self.file), self.level_names)

    def files(self) -> list[str]:
        return [self.file]


class ArxOperator(Hierarchy):
    def __init__(self, path: Path, level_names: list[str] | None = None) -> None:
        self.rows = read_arx(path)
        width = len(self.rows[0])
        names = level_names or [f"level_{i}" for i in range(width)]
        if len(names) != width:
            raise PolicyError(f"hierarchy {path} has {width} levels but {len(names)} names")
        self.level_names = names
        self._by_value = {row[0]: row for row in self.rows}
        self.leaves = len(self.rows)

    def labels(self, value: Hashable) -> list[str]:
        text = "" if value is None else str(value)
        row = self._by_value.get(text)
        if row is None:
            return [text] + [TOP] * (self.height - 1)
        return list(row)

    def costs(self, level: int) -> dict[str, float] | None:
        n = len(self.rows)
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row[level]] = counts.get(row[level], 0) + 1
        out = {label: (m - 1) / (n - 1) if n > 1 else 0.0 for label, m in counts.items()}
        out.setdefault(TOP, 1.0)
        return out

    def domain(self, level: int) -> list[str] | None:
        return sorted({row[level] for row in self.rows} | ({TOP} if level else set()))

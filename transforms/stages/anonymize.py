"""Anonymize: the export kind's protect step (rows: exports/rows/protect.py).

Reads   work/generalized.parquet and work/lookups/ (through the kind)
Writes  work/decision/: what the kind will publish
"""

from __future__ import annotations

from transforms.exports import kind_of
from transforms.runtime import StageRun


def run(s: StageRun) -> dict:
    s.needs("generalize")
    return kind_of(s.policy.export_kind).protect(s)

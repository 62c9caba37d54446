"""Export kinds: a policy's `kind` selects one; `rows` publishes one row per play, `aggregate`
audience tables of cells.

Adding a kind is a folder here plus its suites in `expectations/` and a policy that names it.
"""

from __future__ import annotations

from transforms.exports.aggregate import AggregateExport
from transforms.exports.base import ExportKind
from transforms.exports.dp import DpExport
from transforms.exports.rows import RowsExport

#: By `Policy.export_kind`: the policy's kind, or `dp` for an aggregate with `protection: dp`.
KINDS: dict[str, ExportKind] = {"rows": RowsExport(), "aggregate": AggregateExport(), "dp": DpExport()}


def kind_of(name: str) -> ExportKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown export kind {name!r}; kinds: {', '.join(sorted(KINDS))}") from None


__all__ = ["KINDS", "ExportKind", "kind_of"]

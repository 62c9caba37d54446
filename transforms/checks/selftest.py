"""Self-test in every run: no raw identifier, nor a plain hash of one, reaches the extract.

Before publishing, the day's raw identifier values (account and profile ids, the person key,
emails, IP addresses, device ids) are expanded into the forms a careless pipeline could leak:
the value itself, its unkeyed MD5, SHA-1 and SHA-256 (hex, base64, and the 32-character hex
prefix a pseudonym would show) and its HMAC-SHA256 under an empty key. Every distinct value of
every published text column (and each pseudonym's digest part) is looked up among them.
A hit fails the run; only counts are reported, never the values.

Cheap at any size, without testing less: each digest is computed once per distinct raw value,
and the forms stream through a semi-join against the published values (no DISTINCT over
millions of forms). A digest form has one fixed shape (lower-case hex of 32, 40 or 64
characters, padded base64 of 16, 20 or 32 bytes): a form whose shape occurs among no published
value cannot equal one, so it is not computed. The counts are those of the full comparison:
`forms_tested` is the number of distinct forms (11 per value; a raw value that equals another
value's digest form counts once, as before).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transforms.backends import Backend, sql
from transforms.config.contract import IDENTIFIER_COLUMNS
from transforms.context import Views
from transforms.ops.keys import hmac_pads

log = logging.getLogger(__name__)


@dataclass
class SelfTestResult:
    values_tested: int
    forms_tested: int
    published_values: int
    hits: int


def self_test(backend: Backend, person: list[str], pseudonym: str | None) -> SelfTestResult:
    """Compare `staged` (the raw day) with `extract` (the candidate); both must be registered."""
    staged = {name for name, _ in backend.columns(Views.STAGED)}
    columns = [c for c in IDENTIFIER_COLUMNS if c in staged]
    published = dict(backend.columns(Views.EXTRACT))
    text_columns = [name for name, dtype in published.items() if dtype == "VARCHAR"]
    pseudonym = pseudonym if pseudonym in published else None  # aggregates publish no pseudonym
    shapes = backend.fetch(
        sql("selftest_targets", columns=columns, person=person, text_columns=text_columns, pseudonym=pseudonym)
    ).to_pydict()
    ipad, opad = hmac_pads(b"")
    row = backend.fetch(sql("selftest", {"ipad": ipad, "opad": opad}, shapes=shapes["shape"])).to_pylist()[0]
    result = SelfTestResult(**{k: int(v) for k, v in row.items()})
    log.info(
        "self-test: %d raw identifier values, %d forms, %d published values (digest shapes probed: %s), %d hits",
        result.values_tested,
        result.forms_tested,
        result.published_values,
        ", ".join(f"{s} ({n} targets)" for s, n in zip(shapes["shape"], shapes["n"], strict=True)) or "none",
        result.hits,
    )
    return result

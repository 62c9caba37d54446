"""Pseudonymize: replace the person (account_id, profile_id) by a keyed HMAC-SHA256.

Grain of `pseudo_events`: one row per valid play, with the pseudonym in place of the person
and every column the policy drops already gone.

HMAC runs inside DuckDB from the RFC 2104 construction (DuckDB has no HMAC function), once
per distinct person, then joins back. The pads are bound parameters, never SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from transforms.db import scalar
from transforms.keys import KeyRing, derive_domain_key, epoch_label, hmac_pads
from transforms.policy import Policy

PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are negligible even at billions of people
SEPARATOR = "\x1f"  # unit separator: cannot occur in ids, so (a, bc) and (ab, c) differ


def pseudonym_pattern() -> str:
    return rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,31}}:[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}$"


def hmac_sql(message_blob_sql: str) -> str:
    """HMAC-SHA256 (hex) of a BLOB expression under the pads bound as $ipad and $opad."""
    return f"sha256($opad || unhex(sha256($ipad || {message_blob_sql})))"


@dataclass
class PseudonymizeResult:
    people: int
    rows: int
    key_id: str
    recipient: str
    epoch: str


def pseudonymize(con: duckdb.DuckDBPyConnection, policy: Policy, ring: KeyRing, day: date) -> PseudonymizeResult:
    key = ring.active
    epoch = epoch_label(policy.pseudonym.epoch, day)
    ipad, opad = hmac_pads(derive_domain_key(key, policy.recipient, epoch))
    person = policy.pseudonym.person
    message = "encode(" + f" || '{SEPARATOR}' || ".join(person) + ")"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE persons AS
        SELECT {", ".join(person)},
               $prefix || substr({hmac_sql(message)}, 1, {PSEUDONYM_HEX_CHARS}) AS pseudonym
        FROM (SELECT DISTINCT {", ".join(person)} FROM stg_events)
        """,
        {"ipad": ipad, "opad": opad, "prefix": f"{key.key_id}:"},
    )
    dropped = {c for c, action in policy.columns.items() if action in ("drop", "pseudonymize")}
    staged = [r[0] for r in con.execute("DESCRIBE stg_events").fetchall()]
    keep = [c for c in staged if c not in dropped]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE pseudo_events AS
        SELECT p.pseudonym AS {policy.pseudonym.column}, {", ".join(f"e.{c}" for c in keep)}
        FROM stg_events e JOIN persons p USING ({", ".join(person)})
        """
    )
    people = int(scalar(con, "SELECT count(*) FROM persons") or 0)
    rows = int(scalar(con, "SELECT count(*) FROM pseudo_events") or 0)
    return PseudonymizeResult(people=people, rows=rows, key_id=key.key_id, recipient=policy.recipient, epoch=epoch)

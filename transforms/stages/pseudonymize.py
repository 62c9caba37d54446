"""Pseudonymize: one keyed HMAC-SHA256 per person, scoped to the policy's recipient and epoch.

Reads   work/staged.parquet (the distinct persons only)
Writes  work/persons.parquet: one row per person, raw ids, pseudonym and link token (private, like
        all work data; the link token is a keyed hash stable across nights, never published)

HMAC runs inside the engine, once per distinct person: DuckDB builds it from the RFC 2104
construction, Spark calls its `hmac`. The derived keys (and DuckDB's pads) reach the engine as
a one-row table registered with `register_secret`, never as SQL text or a plan literal. This
is the only stage that sees the key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from transforms.backends import Backend, Query, sql
from transforms.context import Views
from transforms.errors import KeyConfigError
from transforms.ops.keys import (
    PSEUDONYM_HEX_CHARS,
    KeyRing,
    derive_domain_key,
    derive_link_key,
    epoch_label,
    hmac_pads,
)
from transforms.runtime import StageRun

SEPARATOR = "\x1f"  # unit separator: cannot occur in ids, so (a, bc) and (ab, c) differ


@dataclass(frozen=True)
class Domain:
    """The pseudonym domain of one night: key id, recipient, epoch label and the HMAC pads."""

    key_id: str
    recipient: str
    epoch: str
    key: bytes
    link_key: bytes

    def __repr__(self) -> str:  # the keys are key material
        return f"Domain(key_id={self.key_id!r}, recipient={self.recipient!r}, epoch={self.epoch!r})"

    def params(self) -> dict:
        """The step's bound values: nothing secret."""
        return {"prefix": f"{self.key_id}:", "separator": SEPARATOR, "hex_chars": PSEUDONYM_HEX_CHARS}

    def secrets(self) -> pa.Table:
        """One row: the derived keys and their RFC 2104 pads (key material: `register_secret` only)."""
        ipad, opad = hmac_pads(self.key)
        link_ipad, link_opad = hmac_pads(self.link_key)
        values = {
            "domain_key": self.key,
            "ipad": ipad,
            "opad": opad,
            "link_key": self.link_key,
            "link_ipad": link_ipad,
            "link_opad": link_opad,
        }
        return pa.table({name: pa.array([value], pa.binary()) for name, value in values.items()})


def domain(ring: KeyRing, recipient: str, epoch_kind: str, day) -> Domain:
    key = ring.active
    epoch = epoch_label(epoch_kind, day)
    return Domain(
        key.key_id, recipient, epoch, derive_domain_key(key, recipient, epoch), derive_link_key(key, recipient)
    )


def persons_step(backend: Backend, d: Domain, person: list[str]) -> Query:
    """Register the domain's keys on `backend` (as a secret) and return the step that gives
    every person of the registered `staged` its pseudonym and link token."""
    backend.register_secret(Views.DOMAIN_KEYS, d.secrets())
    return sql("pseudonymize_persons", d.params(), person=person)


def run(s: StageRun) -> dict:
    s.needs("pull")
    if s.ring is None:
        raise KeyConfigError("the pseudonymize stage needs the key ring; none was given")
    d = domain(s.ring, s.policy.recipient, s.policy.pseudonym.epoch, s.ctx.day_date)
    s.backend.register_parquet(Views.STAGED, s.work.staged)
    s.backend.write_parquet(persons_step(s.backend, d, s.policy.pseudonym.person), s.work.persons)
    s.backend.register_parquet(Views.PERSONS, s.work.persons)
    people = int(s.backend.scalar(sql("count_rows", table=Views.PERSONS)) or 0)
    return {"people": people, "key_id": d.key_id, "recipient": d.recipient, "epoch": d.epoch}

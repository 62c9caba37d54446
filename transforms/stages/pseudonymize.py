"""Pseudonymize: one keyed HMAC-SHA256 per person, scoped to the policy's recipient and epoch.

Reads   work/staged.parquet (the distinct persons only)
Writes  work/persons.parquet: one row per person, raw ids, pseudonym and link token (private, like
        all work data; the link token is a keyed hash stable across nights, never published)

HMAC runs inside the engine from the RFC 2104 construction, once per distinct person; the
pads are bound parameters, never SQL text. This is the only stage that sees the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from transforms.backends import sql
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
    ipad: bytes
    opad: bytes
    link_ipad: bytes
    link_opad: bytes

    def __repr__(self) -> str:  # the pads are key material
        return f"Domain(key_id={self.key_id!r}, recipient={self.recipient!r}, epoch={self.epoch!r})"

    def params(self) -> dict:
        return {
            "ipad": self.ipad,
            "opad": self.opad,
            "prefix": f"{self.key_id}:",
            "separator": SEPARATOR,
            "hex_chars": PSEUDONYM_HEX_CHARS,
            "link_ipad": self.link_ipad,
            "link_opad": self.link_opad,
        }


def domain(ring: KeyRing, recipient: str, epoch_kind: str, day) -> Domain:
    key = ring.active
    epoch = epoch_label(epoch_kind, day)
    ipad, opad = hmac_pads(derive_domain_key(key, recipient, epoch))
    link_ipad, link_opad = hmac_pads(derive_link_key(key, recipient))
    return Domain(key.key_id, recipient, epoch, ipad, opad, link_ipad, link_opad)


def run(s: StageRun) -> dict:
    s.needs("pull")
    if s.ring is None:
        raise KeyConfigError("the pseudonymize stage needs the key ring; none was given")
    d = domain(s.ring, s.policy.recipient, s.policy.pseudonym.epoch, s.ctx.day_date)
    s.backend.register_parquet(Views.STAGED, s.work.staged)
    s.backend.write_parquet(sql("pseudonymize_persons", d.params(), person=s.policy.pseudonym.person), s.work.persons)
    s.backend.register_parquet(Views.PERSONS, s.work.persons)
    people = int(s.backend.scalar(sql("count_rows", table=Views.PERSONS)) or 0)
    return {"people": people, "key_id": d.key_id, "recipient": d.recipient, "epoch": d.epoch}

"""Pseudonyms: equal to an independent HMAC, scoped per recipient, no identifier left behind."""

from __future__ import annotations

import hashlib
import hmac
import re

from transforms.keys import derive_domain_key
from transforms.pseudonymize import pseudonym_pattern

from .stages import staged


def test_pseudonym_is_hmac_of_the_person_under_the_recipient_key(raw_day, policy, ring):
    con = staged(raw_day, policy, ring, upto="pseudonymize")
    account, profile, pseudonym = con.execute(
        "SELECT account_id, profile_id, pseudonym FROM persons LIMIT 1"
    ).fetchone()
    domain_key = derive_domain_key(ring.active, policy.recipient)
    expected = hmac.new(domain_key, f"{account}\x1f{profile}".encode(), hashlib.sha256).hexdigest()[:32]
    assert pseudonym == f"t1:{expected}"
    assert re.match(pseudonym_pattern(), pseudonym)


def test_two_recipients_cannot_join(raw_day, policy, ring):
    a = staged(raw_day, policy, ring, upto="pseudonymize")
    other = policy.model_copy(update={"recipient": "marketing"})
    b = staged(raw_day, other, ring, upto="pseudonymize")
    left = {r[0] for r in a.execute("SELECT pseudonym FROM persons").fetchall()}
    right = {r[0] for r in b.execute("SELECT pseudonym FROM persons").fetchall()}
    assert left and right and not (left & right)


def test_dropped_identifiers_are_gone_after_pseudonymize(raw_day, policy, ring):
    con = staged(raw_day, policy, ring, upto="pseudonymize")
    columns = {r[0] for r in con.execute("DESCRIBE pseudo_events").fetchall()}
    for gone in ("account_id", "profile_id", "profile_name", "email", "ip_address", "device_id", "event_id"):
        assert gone not in columns
    assert "viewer_id" in columns


def test_same_key_and_input_give_the_same_pseudonyms(raw_day, policy, ring):
    a = staged(raw_day, policy, ring, upto="pseudonymize").execute("SELECT * FROM persons ORDER BY ALL").fetchall()
    b = staged(raw_day, policy, ring, upto="pseudonymize").execute("SELECT * FROM persons ORDER BY ALL").fetchall()
    assert a == b

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


def test_pseudonyms_are_stable_within_an_epoch_and_change_after_it(raw_day, policy, ring):
    from datetime import date

    from transforms.pseudonymize import pseudonymize

    monthly = policy.model_copy(update={"pseudonym": policy.pseudonym.model_copy(update={"epoch": "month"})})
    con = staged(raw_day, monthly, ring, upto="pull")

    def persons(day):
        pseudonymize(con, monthly, ring, day)
        return dict(
            ((a, p), s) for a, p, s in con.execute("SELECT account_id, profile_id, pseudonym FROM persons").fetchall()
        )

    nov_1, nov_30, dec_1 = persons(date(2026, 11, 1)), persons(date(2026, 11, 30)), persons(date(2026, 12, 1))
    assert nov_1 == nov_30
    assert all(nov_1[k] != dec_1[k] for k in nov_1)


def test_rotating_the_key_changes_pseudonyms_and_their_prefix(raw_day, policy, ring):
    from transforms.keys import Key, KeyRing

    rotated = KeyRing("t2", {**ring.keys, "t2": Key("t2", b"r" * 32)})
    old = staged(raw_day, policy, ring, upto="pseudonymize").execute("SELECT pseudonym FROM persons").fetchall()
    new = staged(raw_day, policy, rotated, upto="pseudonymize").execute("SELECT pseudonym FROM persons").fetchall()
    assert all(p.startswith("t1:") for (p,) in old) and all(p.startswith("t2:") for (p,) in new)
    assert not {p.split(":")[1] for (p,) in old} & {p.split(":")[1] for (p,) in new}

"""Pseudonyms: equal to an independent HMAC, scoped per recipient and epoch, no identifier left behind."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

import pytest

from tests.support import DAY
from tests.support.runs import query, run_stages
from transforms.backends.duckdb import DuckDBBackend
from transforms.context import Views
from transforms.ops.keys import Key, KeyRing, derive_domain_key, pseudonym_pattern
from transforms.stages.pseudonymize import domain, persons_step


def persons(raw_day, tmp_path, policy, ring) -> list[tuple]:
    ctx, _ = run_stages(raw_day, tmp_path, policy, ring, upto="pseudonymize")
    return query(ctx.work(policy.export).persons, "SELECT account_id, profile_id, pseudonym FROM t ORDER BY ALL")


def test_the_link_token_is_keyed_stable_across_nights_and_apart_from_the_pseudonym(raw_day, tmp_path, policy, ring):
    from transforms.ops.keys import derive_link_key

    ctx, _ = run_stages(raw_day, tmp_path, policy, ring, upto="pseudonymize")
    account, profile, pseudonym, token = query(
        ctx.work(policy.export).persons,
        "SELECT account_id, profile_id, pseudonym, link_token FROM t ORDER BY ALL LIMIT 1",
    )[0]
    key = derive_link_key(ring.active, policy.recipient)  # no night in it: the same person every night
    assert token == hmac.new(key, f"{account}\x1f{profile}".encode(), hashlib.sha256).hexdigest()[:32]
    assert token != pseudonym.split(":")[1]


@pytest.fixture(scope="module")
def default_persons(raw_day, tmp_path_factory, policy, ring):
    return persons(raw_day, tmp_path_factory.mktemp("p"), policy, ring)


def test_pseudonym_is_hmac_of_the_person_under_the_recipient_and_night_key(default_persons, policy, ring):
    assert len(default_persons) > 500
    # The shipped policy rolls pseudonyms every night (epoch: day): the night is in the key.
    domain_key = derive_domain_key(ring.active, policy.recipient, DAY.isoformat())
    for account, profile, pseudonym in default_persons[:50]:
        expected = hmac.new(domain_key, f"{account}\x1f{profile}".encode(), hashlib.sha256).hexdigest()[:32]
        assert pseudonym == f"t1:{expected}"
        assert re.match(pseudonym_pattern(), pseudonym)


def test_two_recipients_cannot_join(default_persons, raw_day, tmp_path, policy, ring):
    other = persons(raw_day, tmp_path, policy.model_copy(update={"recipient": "marketing"}), ring)
    left, right = {p for *_, p in default_persons}, {p for *_, p in other}
    assert len(left) == len(right) == len(default_persons) and not (left & right)


def test_no_identifier_column_survives_generalize(raw_day, tmp_path, policy, ring):
    ctx, _ = run_stages(raw_day, tmp_path, policy, ring, upto="generalize")
    with DuckDBBackend() as b:
        b.register_parquet(Views.GENERALIZED, ctx.work(policy.export).generalized)
        columns = [name for name, _ in b.columns(Views.GENERALIZED)]
    assert columns == ["viewer_id", *policy.kept_columns, *(f"{q}_id" for q in policy.qi_columns)]


def test_same_key_and_input_give_the_same_pseudonyms(default_persons, raw_day, tmp_path, policy, ring):
    assert persons(raw_day, tmp_path, policy, ring) == default_persons


def test_pseudonyms_are_stable_within_an_epoch_and_change_after_it(raw_day, tmp_path, policy, ring):
    ctx, _ = run_stages(raw_day, tmp_path, policy, ring, upto="pull")

    def pseudonyms(day):
        with DuckDBBackend() as b:
            b.register_parquet(Views.STAGED, ctx.work(policy.export).staged)
            d = domain(ring, policy.recipient, "month", day)
            table = b.fetch(persons_step(b, d, policy.pseudonym.person))
        return {(r["account_id"], r["profile_id"]): r["pseudonym"] for r in table.to_pylist()}

    nov_1, nov_30, dec_1 = pseudonyms(date(2026, 11, 1)), pseudonyms(date(2026, 11, 30)), pseudonyms(date(2026, 12, 1))
    assert nov_1 == nov_30
    assert all(nov_1[k] != dec_1[k] for k in nov_1)


def test_rotating_the_key_changes_pseudonyms_and_their_prefix(default_persons, raw_day, tmp_path, policy, ring):
    rotated = KeyRing("t2", {**ring.keys, "t2": Key("t2", b"r" * 32)})
    new = persons(raw_day, tmp_path, policy, rotated)
    assert all(p.startswith("t1:") for *_, p in default_persons) and all(p.startswith("t2:") for *_, p in new)
    assert not {p.split(":")[1] for *_, p in default_persons} & {p.split(":")[1] for *_, p in new}


def test_the_domain_never_shows_its_keys(ring, policy):
    d = domain(ring, policy.recipient, "none", date(2026, 11, 23))
    secrets = d.secrets().to_pylist()[0]
    assert set(secrets) == {"domain_key", "ipad", "opad", "link_key", "link_ipad", "link_opad"}
    shown = repr(d) + str(d) + repr(d.params())
    assert all(v.hex() not in shown and v.hex().upper() not in shown for v in secrets.values())
    assert "key=" not in repr(d) and "ipad" not in repr(d)

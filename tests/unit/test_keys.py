"""Keys: HMAC in DuckDB against RFC 4231, key sources and refusals, no secret in reprs."""

from __future__ import annotations

import hashlib
import hmac
import json

import duckdb
import pytest

from transforms.errors import KeyConfigError
from transforms.ops.keys import Key, derive_domain_key, epoch_label, hmac_pads, load_key_ring, ring_from_text


def hmac_sql(message: str) -> str:
    """The project's HMAC macro (backends/duckdb/sql/_macros.sql) around a message expression."""
    from transforms.backends.base import _environment
    from transforms.backends.duckdb import DuckDBBackend

    return (
        _environment(str(DuckDBBackend.sql_dir))
        .from_string('{% from "_macros.sql" import hmac %}{{ hmac(m, "$ipad", "$opad") }}')
        .render(m=message)
    )


# RFC 4231 test cases 1, 2, 3, 4, 6, 7 (case 5 tests truncation, which HMAC itself does not do).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to "
        b"be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


@pytest.mark.parametrize(("key", "message", "expected"), RFC4231)
def test_duckdb_hmac_matches_rfc4231(key, message, expected):
    ipad, opad = hmac_pads(key)
    got = duckdb.connect().execute(f"SELECT {hmac_sql('$msg')}", {"ipad": ipad, "opad": opad, "msg": message})
    assert got.fetchone()[0] == expected


def test_duckdb_hmac_matches_python_on_text_ids():
    key = b"k" * 32
    ipad, opad = hmac_pads(key)
    ids = ["AC0001\x1fPR01", "ünïcødé\x1f\U0001f600", ""]
    con = duckdb.connect()
    for text in ids:
        got = con.execute(f"SELECT {hmac_sql('encode($m)')}", {"ipad": ipad, "opad": opad, "m": text}).fetchone()[0]
        assert got == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_short_key_is_refused_with_a_fix():
    with pytest.raises(KeyConfigError, match="at least 32"):
        ring_from_text("too-short", "test")


def test_missing_key_names_both_sources():
    with pytest.raises(KeyConfigError, match=r"PSEUDONYMIZATION_SECRET.*--key-file"):
        load_key_ring(None, env={})


def test_key_ring_json_selects_active_key(tmp_path):
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"active": "k2", "keys": {"k1": "x" * 32, "k2": "hex:" + "ab" * 32}}))
    ring = load_key_ring(path, env={})
    assert ring.active_id == "k2"
    assert ring.active.secret == bytes.fromhex("ab" * 32)


def test_unknown_active_key_is_refused():
    with pytest.raises(KeyConfigError, match="active key 'k9'"):
        ring_from_text(json.dumps({"active": "k9", "keys": {"k1": "x" * 32}}), "test")


@pytest.mark.parametrize(
    "ring",
    [
        {"active": "Zq8vR2mX7tLp4Ws9Kd3Hn6Yb1Cf5Jg0A", "keys": {"Zq8vR2mX7tLp4Ws9Kd3Hn6Yb1Cf5Jg0A": "k1"}},  # swapped
        {"active": "k1", "keys": {"base64:Zq8vR2mX7tLp4Ws9Kd3Hn6Yb1Cf5Jg0A": "k1"}},  # the secret as the id
        {"active": "Zq8vR2mX7tLp4Ws9Kd3Hn6Yb1Cf5Jg0A", "keys": {"k1": "x" * 32}},  # the secret as the active id
    ],
)
def test_a_key_refused_for_its_configuration_is_not_quoted(ring):
    """An id and a secret swapped by mistake: the error reaches logs and alerts, never the secret."""
    with pytest.raises(KeyConfigError) as refused:
        ring_from_text(json.dumps(ring), "test")
    assert "Zq8vR2mX" not in str(refused.value)
    assert "not shown" in str(refused.value)


def test_reprs_never_show_the_secret():
    secret = b"S" * 40
    ring = ring_from_text(secret.decode(), "test")
    assert "SSSS" not in repr(ring) and "SSSS" not in repr(ring.active)
    assert "SSSS" not in repr(Key("a", secret))


def test_recipients_get_different_domain_keys():
    key = Key("k1", b"m" * 32)
    assert derive_domain_key(key, "analytics") != derive_domain_key(key, "marketing")
    assert derive_domain_key(key, "analytics") == derive_domain_key(key, "analytics")


def test_demo_key_is_refused_outside_demo_mode(monkeypatch):
    ring = json.dumps({"active": "demo", "keys": {"demo": "d" * 32}})
    monkeypatch.delenv("VIEWING_EXPORT_DEMO_MODE", raising=False)
    with pytest.raises(KeyConfigError, match="demo key and is refused outside demo mode"):
        ring_from_text(ring, "test")
    monkeypatch.setenv("VIEWING_EXPORT_DEMO_MODE", "1")
    assert ring_from_text(ring, "test").active_id == "demo"


@pytest.mark.parametrize(
    ("epoch", "label"),
    [("none", ""), ("year", "2026"), ("month", "2026-11"), ("week", "2026-W48"), ("day", "2026-11-23")],
)
def test_epoch_labels(epoch, label):
    from datetime import date

    assert epoch_label(epoch, date(2026, 11, 23)) == label

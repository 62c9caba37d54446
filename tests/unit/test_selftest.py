"""The self-test against its definition, on small tables written out here.

Definition: every distinct raw identifier value (and the person key) in 11 forms (the value;
MD5, SHA-1, SHA-256 and HMAC-SHA256 under an empty key in hex; SHA-1, SHA-256 and the HMAC
cut to 32 hex characters; MD5, SHA-1, SHA-256 in base64); `forms_tested` is the number of
distinct forms, `published_values` the distinct published tokens (text values, and each
pseudonym's digest part), `hits` the published tokens equal to a form. The engine computes only
the forms whose shape occurs among the published values and never collects the forms: the
figures must still be these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pyarrow as pa
import pytest

from transforms.backends.duckdb import DuckDBBackend
from transforms.checks.selftest import self_test
from transforms.config.contract import IDENTIFIER_COLUMNS
from transforms.context import Views

PERSON = ["account_id", "profile_id"]
FORMS = (
    "value",
    "md5",
    "sha1",
    "sha256",
    "hmac_empty",
    "sha1_32",
    "sha256_32",
    "hmac_empty_32",
    "md5_base64",
    "sha1_base64",
    "sha256_base64",
)


def forms(value: str) -> dict[str, str]:
    b = value.encode()
    md5, sha1, sha256 = (hashlib.new(n, b).hexdigest() for n in ("md5", "sha1", "sha256"))
    mac = hmac.new(b"", b, hashlib.sha256).hexdigest()

    def b64(h):
        return base64.b64encode(bytes.fromhex(h)).decode()

    return dict(
        zip(
            FORMS,
            (value, md5, sha1, sha256, mac, sha1[:32], sha256[:32], mac[:32], b64(md5), b64(sha1), b64(sha256)),
            strict=True,
        )
    )


def raw_day(n: int, seed: int = 5) -> dict[str, list[str]]:
    rng = random.Random(seed)
    return {
        "account_id": [f"AC{rng.getrandbits(40):010X}" for _ in range(n)],
        "profile_id": [f"PR{rng.getrandbits(48):012X}" for _ in range(n)],
        "email": [f"viewer{i}@example.org" for i in range(n)],
        "ip_address": [f"198.51.{i // 250}.{i % 250}" for i in range(n)],
        "device_id": [f"{rng.getrandbits(64):016x}" for _ in range(n)],
    }


def extract(n: int, seed: int = 6) -> dict[str, list[str]]:
    rng = random.Random(seed)
    return {
        "viewer_id": [f"t1:{rng.getrandbits(128):032x}" for _ in range(n)],
        "device_class": [rng.choice(["tv", "phone", "web"]) for _ in range(n)],
        "watch_seconds": list(range(n)),
    }


def run(staged: dict, published: dict, pseudonym: str | None = "viewer_id"):
    with DuckDBBackend() as b:
        b.register_arrow(Views.STAGED, pa.table(staged))
        b.register_arrow(Views.EXTRACT, pa.table(published))
        return self_test(b, PERSON, pseudonym)


def expected(staged: dict, published: dict, pseudonym: str | None = "viewer_id") -> tuple[int, int, int, int]:
    """The figures by the definition, in plain Python."""
    values = {v for c in IDENTIFIER_COLUMNS for v in staged[c] if v}
    values |= {f"{a}\x1f{p}" for a, p in zip(staged["account_id"], staged["profile_id"], strict=True)}
    all_forms = {f for v in values for f in forms(v).values()}
    tokens = {v for c, vs in published.items() if isinstance(vs[0], str) for v in vs}
    if pseudonym:
        tokens |= {v.split(":", 1)[1] for v in published[pseudonym]}
    return len(values), len(all_forms), len(tokens), len(tokens & all_forms)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("column", [*IDENTIFIER_COLUMNS, "person key"])
def test_a_leak_in_any_form_of_any_raw_value_is_found(column, form):
    staged, published = raw_day(200), extract(300)
    raw = f"{staged['account_id'][7]}\x1f{staged['profile_id'][7]}" if column == "person key" else staged[column][7]
    leaked = forms(raw)[form]
    published["device_class"][11] = leaked  # in a label column
    if len(leaked) == 32:
        published["viewer_id"][12] = "t1:" + leaked  # as a pseudonym's digest part
    result = run(staged, published)
    assert result.hits == 1
    assert (result.values_tested, result.forms_tested, result.published_values, result.hits) == expected(
        staged, published
    )


@pytest.mark.parametrize("pseudonym", ["viewer_id", None])
def test_the_figures_are_those_of_the_full_comparison(pseudonym):
    """With leaks of every form, and raw values that are digests of other raw values (one form
    each in the full comparison, not two)."""
    staged, published = raw_day(400), extract(500)
    for i, form in enumerate(FORMS[1:]):
        staged["device_id"][i] = forms(staged["email"][i + 100])[form]
    for i, form in enumerate(FORMS):
        published["device_class"][i] = forms(staged["profile_id"][i + 200])[form]
    published["viewer_id"][40] = "t1:" + forms(staged["account_id"][300])["md5"]
    published["viewer_id"][41] = "t1:" + staged["device_id"][0]  # a raw value that is also a digest
    result = run(staged, published, pseudonym)
    figures = (result.values_tested, result.forms_tested, result.published_values, result.hits)
    assert figures == expected(staged, published, pseudonym)
    values = figures[0]
    assert result.forms_tested == 11 * values - 10  # the ten raw values equal to another value's digest
    assert result.hits == (13 if pseudonym else 11)


def test_no_digest_is_computed_when_nothing_has_a_digest_shape(caplog):
    """An extract with nothing shaped like a digest cannot hold one: no digest is computed, and
    the figures are those of the full comparison."""
    staged, published = raw_day(300), extract(200)
    published.pop("viewer_id")
    with caplog.at_level("INFO", logger="transforms.checks.selftest"):
        result = run(staged, published, None)
    assert "digest shapes probed: none" in caplog.text
    assert (result.values_tested, result.forms_tested, result.published_values, result.hits) == expected(
        staged, published, None
    )
    assert result.hits == 0 and result.forms_tested == 11 * result.values_tested

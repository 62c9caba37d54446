"""The validation gate: a leaked identifier fails the run, and no report repeats the value."""

from __future__ import annotations

import json

import pytest

from transforms.anonymize import anonymize
from transforms.errors import ValidationFailed
from transforms.publish import stage_extract
from transforms.validate import validate

from .stages import staged

LEAKED_EMAIL = "leaky.person77@example.org"
LEAKED_IP = "203.0.113.77"


@pytest.fixture()
def anonymized(raw_day, policy, ring):
    con = staged(raw_day, policy, ring)
    result = anonymize(con, policy)
    return con, result


def _counts(con, result):
    return {"input_rows": result.input_rows, "suppressed_rows": result.suppressed_rows, "rejected_rows": 0}


def test_clean_extract_passes(anonymized, policy, tmp_path):
    con, result = anonymized
    files = stage_extract(con, policy, tmp_path / "staging")
    summary = validate(con, policy, files, _counts(con, result), result.level_numbers, tmp_path / "docs")
    assert summary.success and summary.evaluated > 50


def test_leaked_email_and_ip_fail_without_being_reported(anonymized, policy, tmp_path):
    con, result = anonymized
    con.execute(
        "UPDATE anon_events SET viewer_id = ? WHERE rowid IN (SELECT rowid FROM anon_events LIMIT 3)", [LEAKED_EMAIL]
    )
    con.execute(
        "UPDATE anon_events SET location = ? WHERE rowid IN (SELECT rowid FROM anon_events LIMIT 3)", [LEAKED_IP]
    )
    files = stage_extract(con, policy, tmp_path / "staging")
    docs = tmp_path / "docs"
    with pytest.raises(ValidationFailed) as err:
        validate(con, policy, files, _counts(con, result), result.level_numbers, docs)
    message = str(err.value)
    assert "expect_column_values_to_match_regex(pseudonym)" in message
    assert "expect_column_values_to_be_in_set(location)" in message
    assert "no ipv4 in location" in message
    assert LEAKED_EMAIL not in message and LEAKED_IP not in message
    written = "".join(
        p.read_text(errors="replace") for p in docs.rglob("*") if p.is_file() and p.suffix in (".html", ".json")
    )
    assert written, "Data Docs should be written even when validation fails"
    assert LEAKED_EMAIL not in written and LEAKED_IP not in written
    assert LEAKED_EMAIL not in json.dumps(err.value.failed)


def test_unaccounted_rows_fail_the_gate(anonymized, policy, tmp_path):
    con, result = anonymized
    files = stage_extract(con, policy, tmp_path / "staging")
    counts = _counts(con, result) | {"input_rows": result.input_rows + 1}
    with pytest.raises(ValidationFailed, match="input = published"):
        validate(con, policy, files, counts, result.level_numbers, tmp_path / "docs")


def test_self_test_catches_an_unkeyed_hash_of_an_identifier(anonymized, policy, tmp_path):
    import hashlib

    from transforms.selftest import self_test

    con, _ = anonymized
    files = stage_extract(con, policy, tmp_path / "clean")
    clean = self_test(con, policy, files)
    assert clean.hits == 0 and clean.values_tested > 1000 and clean.forms_tested > 5 * clean.values_tested
    account = con.execute("SELECT account_id FROM stg_events LIMIT 1").fetchone()[0]
    leaked = "t1:" + hashlib.sha256(account.encode()).hexdigest()[:32]
    con.execute("UPDATE anon_events SET viewer_id = ? WHERE rowid < 3", [leaked])
    files = stage_extract(con, policy, tmp_path / "leaky")
    assert self_test(con, policy, files).hits == 1

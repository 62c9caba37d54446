"""The validation gate: a leaked identifier fails the run, and no report repeats the value."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pyarrow as pa
import pytest

from tests.support.runs import run_stages
from transforms.backends import sql
from transforms.backends.duckdb import DuckDBBackend
from transforms.checks import gx
from transforms.checks.selftest import self_test
from transforms.context import Views
from transforms.errors import ValidationFailed
from transforms.exports import kind_of
from transforms.runtime import StageRun

LEAKED_EMAIL = "leaky.person77@example.org"
LEAKED_IP = "203.0.113.77"


@pytest.fixture(scope="module")
def candidate(raw_day, tmp_path_factory, policy, ring):
    """A run up to the anonymize stage and the extract the validate stage would check."""
    tmp = tmp_path_factory.mktemp("v")
    ctx, stats = run_stages(raw_day, tmp, policy, ring, upto="anonymize")
    s = StageRun(ctx, policy, stats)
    try:
        files = kind_of(policy.export_kind).write_extract(s, tmp / "clean")
    finally:
        s.close()
    return ctx, stats, files[0]


def tampered(path, tmp_path, **set_values) -> str:
    """A copy of the extract with some rows' columns replaced (what a bug upstream would do)."""
    out = tmp_path / "part-00000.parquet"
    cols = duckdb.connect().execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    select = ", ".join(
        f"CASE WHEN n < 3 THEN ${c[0]} ELSE {c[0]} END AS {c[0]}" if c[0] in set_values else c[0] for c in cols
    )
    duckdb.connect().execute(
        f"COPY (SELECT {select} FROM (SELECT *, row_number() OVER () AS n FROM read_parquet($src))) TO $dst "
        "(FORMAT parquet)",
        {"src": str(path), "dst": str(out), **set_values},
    )
    return str(out)


def validate(ctx, stats, policy, file, docs, counts=None):
    kind = kind_of(policy.export_kind)
    with DuckDBBackend() as b:
        frames = kind.validation_frames(b, policy, [file], stats)
        if counts:
            frames["run"]["unaccounted_rows"] = counts
        return gx.validate(frames, lambda: kind.suites(policy, stats), docs, policy.export)


def test_clean_extract_passes(candidate, policy, tmp_path):
    ctx, stats, file = candidate
    summary = validate(ctx, stats, policy, file, tmp_path / "docs")
    assert summary.success and summary.evaluated > 50 and not summary.failed


def test_leaked_email_and_ip_fail_without_being_reported(candidate, policy, tmp_path):
    ctx, stats, file = candidate
    leaky = tampered(file, tmp_path, viewer_id=LEAKED_EMAIL, location=LEAKED_IP)
    docs = tmp_path / "docs"
    with pytest.raises(ValidationFailed) as err:
        validate(ctx, stats, policy, leaky, docs)
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


def test_unaccounted_rows_fail_the_gate(candidate, policy, tmp_path):
    ctx, stats, file = candidate
    off_by_one = {**stats, "pull": {**stats["pull"], "input_rows": stats["pull"]["input_rows"] + 1}}
    with pytest.raises(ValidationFailed, match="input = published"):
        validate(ctx, off_by_one, policy, file, tmp_path / "docs")


def test_self_test_catches_an_unkeyed_hash_of_an_identifier(candidate, policy, tmp_path):
    ctx, _, file = candidate
    work = ctx.work(policy.export)

    def hits(path):
        with DuckDBBackend() as b:
            b.register_parquet(Views.STAGED, work.staged)
            b.register_parquet(Views.EXTRACT, [path])
            return self_test(b, policy.pseudonym.person, policy.pseudonym.column)

    clean = hits(file)
    assert clean.hits == 0 and clean.values_tested > 1000 and clean.forms_tested > 5 * clean.values_tested
    account, profile = (
        duckdb.connect()
        .execute("SELECT account_id, profile_id FROM read_parquet(?) LIMIT 1", [str(work.staged)])
        .fetchone()
    )
    person_key = f"{account}\x1f{profile}"
    for leaked in (
        "t1:" + hashlib.sha256(account.encode()).hexdigest()[:32],  # unkeyed hash of an id, as a pseudonym
        "t1:" + hashlib.md5(person_key.encode()).hexdigest(),  # noqa: S324 (the leak under test)
        "t1:" + hashlib.sha1(person_key.encode()).hexdigest()[:32],  # noqa: S324
    ):
        assert hits(tampered(file, tmp_path, viewer_id=leaked)).hits == 1, leaked
    assert hits(tampered(file, tmp_path, device_class=profile)).hits == 1  # a raw id in a label column


def test_great_expectations_logs_no_info_noise_in_a_task(tmp_path):
    """Importing GX logs hundreds of INFO lines ("Skipping registering function ..."), and each
    context one more: a fresh process with INFO logging, as an Airflow task has, shows none."""
    import subprocess
    import sys

    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "import transforms\n"
        "import expectations.rows\n"
        "from pathlib import Path; from transforms.checks.gx import gx_context\n"
        f"gx_context(Path({str(tmp_path / 'docs')!r}))\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "ok"
    assert "great_expectations" not in out, out[:500]


def test_an_error_in_the_background_import_is_raised_where_validation_waits(monkeypatch):
    """GX is imported in a background thread (issue 14): what fails there fails the stage, with
    the original exception and a note saying where it happened."""

    def broken():
        raise ImportError("great_expectations is broken here")

    monkeypatch.setattr(gx, "_import", None)
    monkeypatch.setattr(gx, "_import_gx", broken)
    gx.import_in_background()
    with pytest.raises(ImportError, match="broken here") as err:
        gx.wait_for_import()
    assert any("background thread 'gx-import'" in note for note in err.value.__notes__)


@pytest.mark.parametrize(
    ("k", "pairs", "expected"),
    [
        # supports: items (x,t1) 3 people, (x,t2) 2, (x,t3) 1; pairs {t1,t2} 2 people, {t1,t3} 1
        (2, True, {"min_item_people": 1, "items_below_k": 1, "min_pair_people": 1, "pairs_below_k": 1}),
        (3, True, {"min_item_people": 1, "items_below_k": 2, "min_pair_people": 1, "pairs_below_k": 2}),
        (2, False, {"min_item_people": 1, "items_below_k": 1, "min_pair_people": 2, "pairs_below_k": 0}),
    ],
)
def test_history_frame_counts_items_and_pairs_below_k_from_the_file(k, pairs, expected):
    plays = [("p1", "t1"), ("p1", "t1"), ("p1", "t2"), ("p2", "t1"), ("p2", "t2"), ("p3", "t1"), ("p3", "t3")]
    table = pa.table(
        {"viewer_id": [p for p, _ in plays], "age_band": ["x"] * len(plays), "title_id": [t for _, t in plays]}
    )
    with DuckDBBackend() as b:
        b.register_arrow(Views.EXTRACT, table)
        row = b.fetch(
            sql("frame_history", {"k": k}, person="viewer_id", attributes=["age_band", "title_id"], pairs=pairs)
        ).to_pylist()[0]
    assert row == expected

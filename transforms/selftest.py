"""Self-test in every run: no raw identifier, nor a plain hash of one, reaches the extract.

Before publishing, the day's raw identifier values (account and profile ids, the person key,
emails, IP addresses, device ids) are expanded into the forms a careless pipeline could leak:
the value itself, its unkeyed MD5, SHA-1 and SHA-256 (hex, base64, and the 32-character hex
prefix a pseudonym would show) and its HMAC-SHA256 under an empty key. Every distinct value of
every published text column (and each pseudonym's digest part) is looked up among them.
A hit fails the run; only counts are reported, never the values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

from transforms.db import sql_list
from transforms.keys import hmac_pads
from transforms.policy import Policy
from transforms.pseudonymize import hmac_sql

log = logging.getLogger(__name__)

#: Raw columns whose values are tested (free-text names are not: a first name can be a title).
IDENTIFIER_COLUMNS = ("account_id", "profile_id", "email", "ip_address", "device_id")


@dataclass
class SelfTestResult:
    values_tested: int
    forms_tested: int
    published_values: int
    hits: int


def self_test(con: duckdb.DuckDBPyConnection, policy: Policy, files: list[str]) -> SelfTestResult:
    person = " || chr(31) || ".join(policy.pseudonym.person)
    columns = [c for c in IDENTIFIER_COLUMNS if c in {r[0] for r in con.execute("DESCRIBE stg_events").fetchall()}]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE raw_identifiers AS
        SELECT DISTINCT v FROM (
            SELECT unnest([{", ".join(columns)}, {person}]) AS v FROM stg_events
        ) WHERE v IS NOT NULL AND v <> ''
        """
    )
    ipad, opad = hmac_pads(b"")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE identifier_forms AS
        WITH digests AS (
            SELECT v, md5(v) AS h_md5, sha1(v) AS h_sha1, sha256(v) AS h_sha256,
                   {hmac_sql("encode(v)")} AS h_hmac_empty
            FROM raw_identifiers
        )
        SELECT DISTINCT form FROM (
            SELECT unnest([
                v, h_md5, h_sha1, h_sha256, h_hmac_empty,
                substr(h_sha1, 1, 32), substr(h_sha256, 1, 32), substr(h_hmac_empty, 1, 32),
                to_base64(unhex(h_md5)), to_base64(unhex(h_sha1)), to_base64(unhex(h_sha256))
            ]) AS form FROM digests
        )
        """,
        {"ipad": ipad, "opad": opad},
    )
    text_cols = [
        r[0]
        for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_list(files)})").fetchall()
        if r[1] == "VARCHAR"
    ]
    pid = policy.pseudonym.column
    published = " UNION ".join(
        [f"SELECT DISTINCT {c} AS token FROM read_parquet({sql_list(files)})" for c in text_cols]
        + [f"SELECT DISTINCT split_part({pid}, ':', 2) AS token FROM read_parquet({sql_list(files)})"]
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE published_tokens AS {published}")
    result = SelfTestResult(
        values_tested=int(con.execute("SELECT count(*) FROM raw_identifiers").fetchone()[0]),
        forms_tested=int(con.execute("SELECT count(*) FROM identifier_forms").fetchone()[0]),
        published_values=int(con.execute("SELECT count(*) FROM published_tokens").fetchone()[0]),
        hits=int(
            con.execute(
                "SELECT count(*) FROM published_tokens t JOIN identifier_forms f ON t.token = f.form"
            ).fetchone()[0]
        ),
    )
    for table in ("raw_identifiers", "identifier_forms", "published_tokens"):
        con.execute(f"DROP TABLE {table}")
    log.info(
        "self-test: %d raw identifier values, %d forms, %d published values, %d hits",
        result.values_tested, result.forms_tested, result.published_values, result.hits,
    )  # fmt: skip
    return result

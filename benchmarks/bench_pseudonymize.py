"""Pseudonymization throughput: distinct ids per second, DuckDB SQL HMAC vs Python's hmac.

    python benchmarks/bench_pseudonymize.py --ids 1000000 10000000

Both compute HMAC-SHA256 under the same derived key over the same ids and must agree. The SQL
side is the pipeline's own step (backends/duckdb/sql/pseudonymize_persons.sql) on the DuckDB backend.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time

from transforms.backends.duckdb import DuckDBBackend
from transforms.ops.keys import Key, KeyRing
from transforms.stages.pseudonymize import domain, persons_step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ids", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--python-sample", type=int, default=1_000_000, help="ids hashed by Python's hmac")
    args = p.parse_args()
    from datetime import date

    from transforms.ops.keys import derive_domain_key

    master = Key("bench", os.urandom(32))
    d = domain(KeyRing("bench", {"bench": master}), "analytics", "none", date(2026, 11, 23))
    key = derive_domain_key(master, "analytics")
    b = DuckDBBackend()
    print("| distinct ids | DuckDB SQL HMAC s | ids/s | Python hmac ids/s |")
    print("|---|---|---|---|")
    for n in args.ids:
        b.con.execute(
            "CREATE OR REPLACE TABLE staged AS SELECT 'AC' || lpad(i::VARCHAR, 12, '0') AS account_id, "
            "'PR' || lpad((i * 7)::VARCHAR, 16, '0') AS profile_id FROM range(?) t(i)",
            [n],
        )
        t0 = time.perf_counter()
        b.materialize("out", persons_step(b, d, ["account_id", "profile_id"]))
        sql_s = time.perf_counter() - t0
        sample = b.con.execute(
            "SELECT account_id, profile_id, pseudonym FROM out LIMIT ?", [min(n, args.python_sample)]
        ).fetchall()
        t0 = time.perf_counter()
        digests = [hmac.new(key, f"{a}\x1f{p}".encode(), hashlib.sha256).hexdigest()[:32] for a, p, _ in sample]
        py_rate = len(sample) / (time.perf_counter() - t0)
        assert all(row[2] == "bench:" + dig for row, dig in zip(sample, digests, strict=True))
        print(f"| {n:,} | {sql_s:.2f} | {n / sql_s:,.0f} | {py_rate:,.0f} |")


if __name__ == "__main__":
    main()

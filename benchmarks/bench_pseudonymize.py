"""Pseudonymization throughput: distinct ids per second, DuckDB SQL HMAC vs Python's hmac.

    python benchmarks/bench_pseudonymize.py --ids 1000000 10000000

Both compute HMAC-SHA256 under the same derived key over the same ids and must agree.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time

import duckdb

from transforms.keys import Key, derive_domain_key, hmac_pads
from transforms.pseudonymize import hmac_sql


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ids", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--python-sample", type=int, default=1_000_000, help="ids hashed by Python's hmac")
    args = p.parse_args()
    key = derive_domain_key(Key("bench", os.urandom(32)), "analytics")
    ipad, opad = hmac_pads(key)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    print("| distinct ids | DuckDB SQL HMAC s | ids/s | Python hmac ids/s |")
    print("|---|---|---|---|")
    for n in args.ids:
        con.execute(
            "CREATE OR REPLACE TABLE ids AS SELECT 'AC' || lpad(i::VARCHAR, 12, '0') || chr(31) || 'PR' || "
            "lpad((i * 7)::VARCHAR, 16, '0') AS id FROM range(?) t(i)",
            [n],
        )
        t0 = time.perf_counter()
        con.execute(
            f"CREATE OR REPLACE TABLE out AS SELECT id, substr({hmac_sql('encode(id)')}, 1, 32) AS p FROM ids",
            {"ipad": ipad, "opad": opad},
        )
        sql_s = time.perf_counter() - t0
        sample = [r[0] for r in con.execute("SELECT id FROM ids LIMIT ?", [min(n, args.python_sample)]).fetchall()]
        t0 = time.perf_counter()
        digests = [hmac.new(key, s.encode(), hashlib.sha256).hexdigest()[:32] for s in sample]
        py_rate = len(sample) / (time.perf_counter() - t0)
        check = dict(con.execute("SELECT id, p FROM out LIMIT 1000").fetchall())
        assert all(check[s] == d for s, d in zip(sample, digests, strict=False) if s in check)
        print(f"| {n:,} | {sql_s:.2f} | {n / sql_s:,.0f} | {py_rate:,.0f} |")


if __name__ == "__main__":
    main()

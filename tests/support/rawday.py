"""Hand-written raw days for unit tests: a few rows whose fate is known in advance."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import duckdb

BASE = {
    "event_id": "00000000-0000-4000-a000-000000000001", "account_id": "AC000000000001",
    "profile_id": "PR0000000000000001", "profile_name": "Ada", "email": "ada@example.com",
    "ip_address": "81.2.69.160", "device_id": "dev-1", "device_model": "iPhone 14",
    "title_id": "MV000001", "title_name": "A Film", "content_type": "movie",
    "started_at": "2026-11-23T21:04:11Z", "watch_seconds": 3600, "country": "GB",
    "city": "London", "postal_code": "SW1 1AA",
}  # fmt: skip


def event(n: int, **changes) -> dict:
    row = dict(BASE, event_id=f"00000000-0000-4000-a000-{n:012d}")
    row.update(changes)
    return row


def write_day(root: Path, lines: list[str], subscribers: list[dict], day: date = date(2026, 11, 23)) -> Path:
    ev = root / "viewing_events" / f"dt={day}"
    ev.mkdir(parents=True, exist_ok=True)
    with gzip.open(ev / "part-00000.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    sub = root / "subscribers" / f"dt={day}"
    sub.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("CREATE TABLE s (account_id VARCHAR, profile_id VARCHAR, birth_date DATE, gender VARCHAR, "
                "plan VARCHAR, signup_date DATE)")  # fmt: skip
    for s in subscribers:
        values = [s["account_id"], s["profile_id"], s.get("birth_date", "1990-01-01"), s.get("gender", "F"),
                  s.get("plan", "basic"), s.get("signup_date", "2020-01-01")]  # fmt: skip
        con.execute("INSERT INTO s VALUES (?, ?, ?, ?, ?, ?)", values)
    con.execute(f"COPY s TO '{sub / 'part-00000.parquet'}' (FORMAT parquet)")
    return root


def dumps(rows: list[dict]) -> list[str]:
    return [json.dumps(r) for r in rows]

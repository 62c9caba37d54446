"""Hand-written raw days for unit tests: a few rows whose fate is known in advance."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import duckdb

BASE = {
    "event_id": "00000000-0000-4000-a000-000000000001",
    "account_id": "AC000000000001",
    "profile_id": "PR0000000000000001",
    "profile_name": "Ada",
    "email": "ada@example.com",
    "ip_address": "81.2.69.160",
    "device_id": "dev-1",
    "device_model": "iPhone 14",
    "title_id": "MV000001",
    "title_name": "A Film",
    "content_type": "movie",
    "started_at": "2026-11-23T21:04:11Z",
    "watch_seconds": 3600,
    "country": "GB",
    "city": "London",
    "postal_code": "SW1 1AA",
}


def event(n: int, **changes) -> dict:
    row = dict(BASE, event_id=f"00000000-0000-4000-a000-{n:012d}")
    row.update(changes)
    return row


def write_day(
    root: Path,
    lines: list[str],
    subscribers: list[dict],
    day: date = date(2026, 11, 23),
    titles: list[dict] | None = None,
) -> Path:
    """Write a raw day: events (gzip JSON lines), subscribers and a catalogue (by default one
    movie per title id the events name; `titles=[]` writes no catalogue at all)."""
    ev = root / "viewing_events" / f"dt={day}"
    ev.mkdir(parents=True, exist_ok=True)
    with gzip.open(ev / "part-00000.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    sub = root / "subscribers" / f"dt={day}"
    sub.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE s (account_id VARCHAR, profile_id VARCHAR, birth_date DATE, gender VARCHAR, "
        "plan VARCHAR, signup_date DATE)"
    )
    for s in subscribers:
        values = [
            s["account_id"],
            s["profile_id"],
            s.get("birth_date", "1990-01-01"),
            s.get("gender", "F"),
            s.get("plan", "basic"),
            s.get("signup_date", "2020-01-01"),
        ]
        con.execute("INSERT INTO s VALUES (?, ?, ?, ?, ?, ?)", values)
    con.execute(f"COPY s TO '{sub / 'part-00000.parquet'}' (FORMAT parquet)")
    if titles is None:
        seen = {}
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("title_id"):
                seen.setdefault(row["title_id"], row.get("title_name") or row["title_id"])
        titles = [catalogue_row(t, name) for t, name in sorted(seen.items())]
    if titles:
        folder = root / "titles" / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(
            "CREATE TABLE t (title_id VARCHAR, title_name VARCHAR, content_type VARCHAR, series_id VARCHAR, "
            "series_name VARCHAR, genre VARCHAR, release_year INTEGER)"
        )
        for t in titles:
            con.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", [t[c] for c in CATALOGUE_COLUMNS])
        con.execute(f"COPY t TO '{folder / 'part-00000.parquet'}' (FORMAT parquet)")
    return root


CATALOGUE_COLUMNS = ("title_id", "title_name", "content_type", "series_id", "series_name", "genre", "release_year")


def catalogue_row(
    title_id: str,
    name: str,
    content_type: str = "movie",
    series_id: str | None = None,
    series_name: str | None = None,
    genre: str = "drama",
    year: int = 2020,
) -> dict:
    return {
        "title_id": title_id,
        "title_name": name,
        "content_type": content_type,
        "series_id": series_id,
        "series_name": series_name,
        "genre": genre,
        "release_year": year,
    }


def dumps(rows: list[dict]) -> list[str]:
    return [json.dumps(r) for r in rows]

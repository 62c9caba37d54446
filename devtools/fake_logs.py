"""Realistic fake raw data for one day, exactly in the raw data contract's shape.

Accounts with 1-5 profiles, emails, first names, IPv4/IPv6 addresses, device ids and models,
birth dates, gender, plans, cities and postal codes in a handful of countries; a title
catalogue with Zipf-like popularity (so some titles are seen by one to three people a day);
plays spread over the day with an evening peak; bingers who watch many episodes in a row.

Faker provides the human-looking pools (names, email domains, title names); numpy samples the
events; DuckDB assembles each chunk and writes it as gzip JSON lines, so 10M+ events are
written in bounded memory. The same seed and day always give the same files.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from faker import Faker

log = logging.getLogger(__name__)

GEO_REFERENCE = Path(__file__).resolve().parent.parent / "policies" / "reference" / "geo_cities.csv"
CHUNK_EVENTS = 250_000

DEVICE_MODELS = {
    "Samsung QN90A TV": 9, "LG OLED C3 TV": 7, "Sony Bravia XR A80L": 4, "TCL 6-Series Roku TV": 5,
    "Hisense U8 TV": 3, "Vizio M-Series TV": 3, "Roku Streaming Stick 4K": 6,
    "Amazon Fire TV Stick 4K": 8, "Chromecast with Google TV": 5, "Apple TV 4K": 5,
    "PlayStation 5": 4, "Xbox Series X": 3, "Nintendo Switch": 1, "iPhone 14": 8,
    "iPhone 15 Pro": 6, "iPhone 13": 5, "Samsung Galaxy S23": 5, "Google Pixel 8": 3,
    "Xiaomi Redmi Note 12": 3, "OnePlus 11": 1, "iPad Air": 4, "iPad Pro 12.9": 2,
    "Samsung Galaxy Tab S9": 2, "Amazon Fire HD 10": 2, "Chrome 131 on Windows": 8,
    "Edge 131 on Windows": 3, "Firefox 133 on Windows": 2, "Safari 18 on macOS": 4,
    "Chrome 131 on macOS": 3, "Chrome 131 on Linux": 1,
}  # fmt: skip
# Share of plays starting in each UTC hour: low at night, peak in the evening.
HOUR_WEIGHTS = np.array([3, 2, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5, 5, 5, 6, 7, 9, 11, 12, 12, 9, 6], dtype=float)
PROFILES_PER_ACCOUNT = ([1, 2, 3, 4, 5], [0.25, 0.3, 0.2, 0.15, 0.1])


@dataclass(frozen=True)
class GenerateResult:
    events: int
    profiles: int
    accounts: int
    titles: int
    dirty_events: int
    event_files: list[str]
    subscriber_file: str
    seconds: float


def _hexes(rng: np.random.Generator, n: int, nbytes: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    return np.array([bytes(r).hex() for r in raw], dtype=object)


def _fill_pattern(pattern: str, digits: np.ndarray, letters: np.ndarray) -> str:
    out, di, li = [], 0, 0
    for ch in pattern:
        if ch == "#":
            out.append(str(digits[di]))
            di += 1
        elif ch == "@":
            out.append(chr(65 + letters[li]))
            li += 1
        else:
            out.append(ch)
    return "".join(out)


def _ascii_slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _load_geo() -> list[dict[str, str]]:
    with GEO_REFERENCE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def _population(rng: np.random.Generator, fake: Faker, n_profiles: int, day: date):
    """Accounts, profiles and devices. Returns arrow tables for DuckDB to join."""
    counts = rng.choice(PROFILES_PER_ACCOUNT[0], size=n_profiles, p=PROFILES_PER_ACCOUNT[1])
    counts = counts[np.cumsum(counts) <= n_profiles]
    if counts.sum() < n_profiles:
        counts = np.append(counts, n_profiles - counts.sum())
    n_accounts = len(counts)

    geo = _load_geo()
    weights = np.array([float(g["weight"]) for g in geo])
    city_idx = rng.choice(len(geo), size=n_accounts, p=weights / weights.sum())
    digits = rng.integers(0, 10, size=(n_accounts, 8))
    letters = rng.integers(0, 26, size=(n_accounts, 4))
    postal = [_fill_pattern(geo[c]["postal_pattern"], digits[i], letters[i]) for i, c in enumerate(city_idx)]

    first_names = [fake.first_name() for _ in range(3000)]
    last_names = [_ascii_slug(fake.last_name()) for _ in range(3000)]
    domains = [fake.free_email_domain() for _ in range(40)]
    fi = rng.integers(0, len(first_names), size=n_accounts)
    li = rng.integers(0, len(last_names), size=n_accounts)
    di = rng.integers(0, len(domains), size=n_accounts)
    emails = [
        f"{_ascii_slug(first_names[f])}.{last_names[la]}{i}@{domains[d]}"
        for i, (f, la, d) in enumerate(zip(fi, li, di, strict=True))
    ]
    ipv4 = rng.integers(1, 224, size=(n_accounts, 4))
    ipv4[:, 0] = rng.choice([24, 31, 45, 62, 73, 81, 98, 151, 177, 189, 201], size=n_accounts)
    ipv6_groups = rng.integers(0, 65536, size=(n_accounts, 4))
    is_v6 = rng.random(n_accounts) < 0.3
    ips = [
        f"2001:db8:{g[0]:x}:{g[1]:x}::{g[2]:x}:{g[3]:x}" if v6 else ".".join(map(str, q))
        for v6, g, q in zip(is_v6, ipv6_groups, ipv4, strict=True)
    ]
    plans = rng.choice(["basic", "standard", "premium"], size=n_accounts, p=[0.35, 0.45, 0.2])
    signup = [day - timedelta(days=int(x)) for x in rng.integers(1, 3650, size=n_accounts)]
    n_devices = rng.integers(1, 4, size=n_accounts)
    accounts = pa.table({
        "account_idx": np.arange(n_accounts),
        "account_id": ["AC" + h.upper() for h in _hexes(rng, n_accounts, 6)],
        "email": emails,
        "ip_address": ips,
        "country": [geo[c]["country"] for c in city_idx],
        "city": [geo[c]["city"] for c in city_idx],
        "postal_code": postal,
        "plan": plans,
        "signup_date": signup,
        "n_devices": n_devices,
    })  # fmt: skip

    account_of = np.repeat(np.arange(n_accounts), counts)
    ages = np.clip(rng.normal(38, 14, size=n_profiles), 6, 92)
    birth = [day - timedelta(days=int(a * 365.25)) for a in ages]
    gender = rng.choice(np.array(["F", "M", "X", None], dtype=object), size=n_profiles, p=[0.47, 0.46, 0.02, 0.05])
    # Activity: most profiles watch a little, a few a lot; about 4% binge.
    activity = rng.lognormal(0.0, 1.0, size=n_profiles)
    binger = rng.random(n_profiles) < 0.04
    activity[binger] *= 8
    profiles = pa.table({
        "profile_idx": np.arange(n_profiles),
        "account_idx": account_of,
        "profile_id": ["PR" + h.upper() for h in _hexes(rng, n_profiles, 8)],
        "profile_name": [first_names[i] for i in rng.integers(0, len(first_names), n_profiles)],
        "birth_date": birth,
        "gender": gender,
        "is_binger": binger,
    })  # fmt: skip

    model_names = list(DEVICE_MODELS)
    mw = np.array(list(DEVICE_MODELS.values()), dtype=float)
    dev_acc = np.repeat(np.arange(n_accounts), 3)
    devices = pa.table({
        "account_idx": dev_acc,
        "slot": np.tile(np.arange(3), n_accounts),
        "device_id": _hexes(rng, 3 * n_accounts, 8),
        "device_model": [model_names[i] for i in rng.choice(len(model_names), 3 * n_accounts, p=mw / mw.sum())],
    })  # fmt: skip
    return accounts, profiles, devices, activity / activity.sum()


def _catalogue(rng: np.random.Generator, fake: Faker, n_shows: int) -> pa.Table:
    """Shows (movies and series) with Zipf-like popularity, and their playable titles."""
    kinds = rng.choice(["movie", "series"], size=n_shows, p=[0.6, 0.4])
    names = [fake.catch_phrase().title() for _ in range(n_shows)]
    popularity = 1.0 / np.arange(1, n_shows + 1) ** 1.07
    rng.shuffle(popularity)
    shows = pa.table({
        "show_idx": np.arange(n_shows),
        "kind": kinds,
        "show_name": names,
        "popularity": popularity / popularity.sum(),
        "n_episodes": np.where(kinds == "series", rng.integers(6, 40, size=n_shows), 1),
    })  # fmt: skip
    return shows


def _write_subscribers(con: duckdb.DuckDBPyConnection, raw_root: Path, day: date) -> str:
    out = raw_root / "subscribers" / f"dt={day.isoformat()}"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "part-00000.parquet"
    con.execute(
        f"""
        COPY (
            SELECT a.account_id, p.profile_id, p.birth_date, p.gender, a.plan, a.signup_date
            FROM profiles p JOIN accounts a USING (account_idx)
            ORDER BY p.profile_idx
        ) TO '{_sql_path(path)}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    return str(path)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


EVENTS_SQL = """
WITH picks AS (
    SELECT e.*, p.account_idx, p.profile_id, p.profile_name, p.is_binger,
           row_number() OVER (PARTITION BY e.profile_idx ORDER BY e.seq) AS nth
    FROM chunk e JOIN profiles p USING (profile_idx)
),
content AS (
    SELECT picks.*,
           -- Bingers stay on one series and walk its episodes in order.
           CASE WHEN is_binger AND binge THEN binge_show ELSE show_idx END AS play_show
    FROM picks
),
titled AS (
    SELECT c.*, s.kind, s.show_name, s.n_episodes,
           CASE WHEN c.is_binger AND c.binge
                THEN (c.episode_seed + c.nth) % s.n_episodes
                ELSE c.episode_seed % s.n_episodes END AS episode
    FROM content c JOIN shows s ON s.show_idx = c.play_show
),
final AS (
    SELECT
        t.seq,
        substr(md5(event_key), 1, 8) || '-' || substr(md5(event_key), 9, 4) || '-4'
            || substr(md5(event_key), 14, 3) || '-a' || substr(md5(event_key), 18, 3) || '-'
            || substr(md5(event_key), 21, 12) AS event_id,
        a.account_id, t.profile_id, t.profile_name, a.email,
        CASE WHEN t.on_mobile_ip THEN '100.' || (t.seq % 64 + 64) || '.' || (t.seq % 251) || '.'
             || (t.seq % 199 + 1) ELSE a.ip_address END AS ip_address,
        d.device_id, d.device_model,
        CASE WHEN t.is_trailer THEN 'TR' || lpad(CAST(t.play_show AS VARCHAR), 6, '0')
             WHEN t.kind = 'movie' THEN 'MV' || lpad(CAST(t.play_show AS VARCHAR), 6, '0')
             ELSE 'EP' || lpad(CAST(t.play_show AS VARCHAR), 6, '0') || lpad(CAST(t.episode AS VARCHAR), 3, '0')
        END AS title_id,
        CASE WHEN t.is_trailer THEN t.show_name || ' (Trailer)'
             WHEN t.kind = 'movie' THEN t.show_name
             ELSE t.show_name || ': S' || (t.episode // 10 + 1) || 'E' || (t.episode % 10 + 1)
        END AS title_name,
        CASE WHEN t.is_trailer THEN 'trailer' WHEN t.kind = 'movie' THEN 'movie' ELSE 'episode' END
            AS content_type,
        strftime(TIMESTAMP '{day}' + to_seconds(t.start_second), '%Y-%m-%dT%H:%M:%SZ') AS started_at,
        CAST(CASE WHEN t.is_trailer THEN 20 + t.watch_u * 130
                  WHEN t.abandoned THEN t.watch_u * 240
                  WHEN t.kind = 'movie' THEN 1800 + t.watch_u * 6000
                  ELSE 600 + t.watch_u * 2800 END AS BIGINT) AS watch_seconds,
        a.country, a.city, a.postal_code
    FROM titled t
    JOIN accounts a USING (account_idx)
    JOIN devices d ON d.account_idx = t.account_idx AND d.slot = t.device_pick % a.n_devices
)
SELECT * EXCLUDE (seq) FROM final ORDER BY seq
"""


def _chunk(rng: np.random.Generator, key: str, start: int, n: int, profile_p: np.ndarray, shows: pa.Table) -> pa.Table:
    n_shows = shows.num_rows
    popularity = shows.column("popularity").to_numpy()
    hours = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    return pa.table({
        "seq": np.arange(start, start + n),
        "event_key": [f"{key}-{start + i}" for i in range(n)],
        "profile_idx": rng.choice(len(profile_p), size=n, p=profile_p),
        "show_idx": rng.choice(n_shows, size=n, p=popularity),
        "binge_show": rng.choice(n_shows, size=n, p=popularity),
        "binge": rng.random(n) < 0.8,
        "episode_seed": rng.integers(0, 1000, size=n),
        "is_trailer": rng.random(n) < 0.07,
        "abandoned": rng.random(n) < 0.12,
        "watch_u": rng.random(n),
        "start_second": hours * 3600 + rng.integers(0, 3600, size=n),
        "device_pick": rng.integers(0, 3, size=n),
        "on_mobile_ip": rng.random(n) < 0.05,
    })  # fmt: skip


def _dirty_lines(rng: np.random.Generator, clean_sample: list[dict], day: date) -> list[str]:
    """Lines real upstream systems produce: each kind is rejected with its own reason."""
    out: list[str] = []
    for i, row in enumerate(clean_sample):
        kind = i % 8
        row = dict(row)
        if kind != 3:  # only the duplicate keeps the event id of a clean event
            row["event_id"] = str(uuid.UUID(bytes=bytes(rng.integers(0, 256, 16, dtype=np.uint8)), version=4))
        if kind == 0:
            out.append(json.dumps(row)[: int(rng.integers(10, 60))])  # cut-off line
            continue
        if kind == 1:
            row["profile_id"] = None
        elif kind == 2:
            row["started_at"] = f"{(day - timedelta(days=1)).isoformat()}T23:59:{i % 60:02d}Z"
        elif kind == 3:
            pass  # an exact duplicate of an event already in the day (same event_id)
        elif kind == 4:
            row["watch_seconds"] = -int(rng.integers(1, 500))
        elif kind == 5:
            row["country"] = "U$"
        elif kind == 6:
            row["account_id"] = "AC" + bytes(rng.integers(0, 256, 6, dtype=np.uint8)).hex().upper()
        elif kind == 7:
            row["started_at"] = "not a timestamp"
        out.append(json.dumps(row))
    return out


def generate_day(
    raw_root: str | Path,
    day: date,
    events: int,
    seed: int = 7,
    dirty_fraction: float = 0.0,
    chunk_events: int = CHUNK_EVENTS,
) -> GenerateResult:
    """Write one day of viewing events (jsonl.gz parts) and the subscriber snapshot (parquet)."""
    if events < 1:
        raise ValueError("events must be at least 1")
    t0 = time.perf_counter()
    raw_root = Path(raw_root)
    rng = np.random.default_rng([seed, day.toordinal()])
    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "pt_BR", "es_ES"])
    fake.seed_instance(seed)

    n_profiles = max(40, events // 5)
    accounts, profiles, devices, profile_p = _population(rng, fake, n_profiles, day)
    n_shows = int(np.clip(events // 150, 60, 30_000))
    shows = _catalogue(rng, fake, n_shows)

    con = duckdb.connect()
    con.execute("SET threads = 2")
    for name, table in (("accounts", accounts), ("profiles", profiles), ("devices", devices), ("shows", shows)):
        con.register(name, table)
    subscriber_file = _write_subscribers(con, raw_root, day)

    out_dir = raw_root / "viewing_events" / f"dt={day.isoformat()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part-*"):
        old.unlink()
    files: list[str] = []
    sample: list[dict] = []
    n_dirty = round(events * dirty_fraction)
    for part, start in enumerate(range(0, events, chunk_events)):
        n = min(chunk_events, events - start)
        chunk_rng = np.random.default_rng([seed, day.toordinal(), part + 1])
        con.register("chunk", _chunk(chunk_rng, f"{seed}-{day}", start, n, profile_p, shows))
        path = out_dir / f"part-{part:05d}.jsonl.gz"
        sql = EVENTS_SQL.replace("{day}", day.isoformat())
        con.execute(f"COPY ({sql}) TO '{_sql_path(path)}' (FORMAT json, COMPRESSION gzip)")
        if n_dirty and not sample:
            cols = [d[0] for d in con.execute(f"{sql} LIMIT {n_dirty}").description]
            sample = [dict(zip(cols, r, strict=True)) for r in con.execute(f"{sql} LIMIT {n_dirty}").fetchall()]
        files.append(str(path))
        log.info("generate: wrote %s events (%d/%d)", f"{start + n:,}", part + 1, -(-events // chunk_events))
    if n_dirty:
        path = out_dir / f"part-{len(files):05d}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for line in _dirty_lines(rng, sample, day):
                fh.write(line + "\n")
        files.append(str(path))
    return GenerateResult(
        events=events + n_dirty,
        profiles=n_profiles,
        accounts=accounts.num_rows,
        titles=n_shows,
        dirty_events=n_dirty,
        event_files=files,
        subscriber_file=subscriber_file,
        seconds=round(time.perf_counter() - t0, 2),
    )

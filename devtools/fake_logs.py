"""Realistic fake raw data, exactly in the raw data contract's shape, for one night or several.

One population per seed and size: accounts with 1-5 profiles, emails, first names, IPv4/IPv6
addresses, device ids and models, birth dates, gender, plans, cities and postal codes in a
handful of countries. The same people come back night after night with habits that carry
over: a favourite series, a preferred device and hour, a few bingers, and a few who rewatch
one comfort title every night (the "every day for 18 days" cohort).

The title catalogue (public) has series with many episodes, movies, trailers and a long tail
of rare titles with Zipf-like popularity; each night writes its snapshot, which lacks a few
titles added late (their plays still happen: the pipeline must cope).

Faker provides the human-looking pools (names, email domains, title names); numpy samples the
events; DuckDB assembles each chunk and writes it as gzip JSON lines, so 10M+ events are
written in bounded memory. The same seed, size and day always give the same files.
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
#: Birth and signup dates are drawn relative to this date, so a population is the same every night.
ANCHOR = date(2026, 1, 1)

DEVICE_MODELS = {
    "Samsung QN90A TV": 9,
    "LG OLED C3 TV": 7,
    "Sony Bravia XR A80L": 4,
    "TCL 6-Series Roku TV": 5,
    "Hisense U8 TV": 3,
    "Vizio M-Series TV": 3,
    "Roku Streaming Stick 4K": 6,
    "Amazon Fire TV Stick 4K": 8,
    "Chromecast with Google TV": 5,
    "Apple TV 4K": 5,
    "PlayStation 5": 4,
    "Xbox Series X": 3,
    "Nintendo Switch": 1,
    "iPhone 14": 8,
    "iPhone 15 Pro": 6,
    "iPhone 13": 5,
    "Samsung Galaxy S23": 5,
    "Google Pixel 8": 3,
    "Xiaomi Redmi Note 12": 3,
    "OnePlus 11": 1,
    "iPad Air": 4,
    "iPad Pro 12.9": 2,
    "Samsung Galaxy Tab S9": 2,
    "Amazon Fire HD 10": 2,
    "Chrome 131 on Windows": 8,
    "Edge 131 on Windows": 3,
    "Firefox 133 on Windows": 2,
    "Safari 18 on macOS": 4,
    "Chrome 131 on macOS": 3,
    "Chrome 131 on Linux": 1,
}
GENRES = ("drama", "comedy", "documentary", "kids", "thriller", "action", "romance", "scifi", "animation", "reality")
GENRE_WEIGHTS = np.array([18, 16, 8, 9, 12, 12, 8, 7, 5, 5], dtype=float)
# Share of plays starting in each UTC hour: low at night, peak in the evening.
HOUR_WEIGHTS = np.array([3, 2, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5, 5, 5, 6, 7, 9, 11, 12, 12, 9, 6], dtype=float)
PROFILES_PER_ACCOUNT = ([1, 2, 3, 4, 5], [0.25, 0.3, 0.2, 0.15, 0.1])
FAVOURITE_SHARE = 0.35  # plays from the person's favourite series
PRIME_HOUR_SHARE = 0.5  # plays starting near the person's usual hour
PREFERRED_DEVICE_SHARE = 0.7
REWATCHER_SHARE = 0.002  # people who rewatch one comfort title every night
COMFORT_TITLES = 6
LATE_TITLE_SHARE = 0.004  # shows missing from a night's catalogue snapshot (added late)
TITLE_COLUMNS = ("title_id", "title_name", "content_type", "series_id", "series_name", "genre", "release_year")


@dataclass(frozen=True)
class GenerateResult:
    events: int
    profiles: int
    accounts: int
    titles: int
    dirty_events: int
    event_files: list[str]
    subscriber_file: str
    catalogue_file: str
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


@dataclass
class Population:
    accounts: pa.Table
    profiles: pa.Table
    devices: pa.Table
    shows: pa.Table
    titles: pa.Table
    activity: np.ndarray  # chance that a play is by each profile


def _catalogue(rng: np.random.Generator, fake: Faker, n_shows: int) -> tuple[pa.Table, pa.Table]:
    """Shows (movies and series) with Zipf-like popularity, and every playable title."""
    kinds = rng.choice(["movie", "series"], size=n_shows, p=[0.6, 0.4])
    names = [fake.catch_phrase().title() for _ in range(n_shows)]
    popularity = 1.0 / np.arange(1, n_shows + 1) ** 1.07
    rng.shuffle(popularity)
    genres = rng.choice(len(GENRES), size=n_shows, p=GENRE_WEIGHTS / GENRE_WEIGHTS.sum())
    years = rng.integers(1960, 2027, size=n_shows)
    n_episodes = np.where(kinds == "series", rng.integers(6, 40, size=n_shows), 1)
    shows = pa.table(
        {
            "show_idx": np.arange(n_shows),
            "kind": kinds,
            "show_name": names,
            "popularity": popularity / popularity.sum(),
            "n_episodes": n_episodes,
            "genre": [GENRES[g] for g in genres],
            "release_year": years,
            "late": rng.random(n_shows) < LATE_TITLE_SHARE,
        }
    )
    rows: dict[str, list] = {c: [] for c in (*TITLE_COLUMNS, "show_idx", "title_idx")}
    for s in range(n_shows):
        name, genre, year = names[s], GENRES[genres[s]], int(years[s])
        playable = [("TR", f"{name} (Trailer)", "trailer", None)]
        if kinds[s] == "movie":
            playable.append(("MV", name, "movie", None))
        else:
            playable += [
                (f"EP{e:03d}", f"{name}: S{e // 10 + 1}E{e % 10 + 1}", "episode", e) for e in range(int(n_episodes[s]))
            ]
        for prefix, title_name, ctype, episode in playable:
            tid = (prefix[:2] + f"{s:06d}" + prefix[2:]) if episode is not None else f"{prefix}{s:06d}"
            rows["title_id"].append(tid)
            rows["title_name"].append(title_name)
            rows["content_type"].append(ctype)
            rows["series_id"].append(f"SE{s:06d}" if ctype == "episode" else None)
            rows["series_name"].append(name if ctype == "episode" else None)
            rows["genre"].append(genre)
            rows["release_year"].append(year)
            rows["show_idx"].append(s)
            rows["title_idx"].append(len(rows["title_idx"]))
    return shows, pa.table(rows)


def population(seed: int, n_profiles: int, n_shows: int) -> Population:
    """The people, their accounts, devices and habits, and the catalogue: the same for every night."""
    rng = np.random.default_rng([seed, n_profiles, 1])
    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "pt_BR", "es_ES"])
    fake.seed_instance(seed)
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
    signup = [ANCHOR - timedelta(days=int(x)) for x in rng.integers(1, 3650, size=n_accounts)]
    accounts = pa.table(
        {
            "account_idx": np.arange(n_accounts),
            "account_id": ["AC" + h.upper() for h in _hexes(rng, n_accounts, 6)],
            "email": emails,
            "ip_address": ips,
            "country": [geo[c]["country"] for c in city_idx],
            "city": [geo[c]["city"] for c in city_idx],
            "postal_code": postal,
            "plan": plans,
            "signup_date": signup,
            "n_devices": rng.integers(1, 4, size=n_accounts),
        }
    )

    shows, titles = _catalogue(rng, fake, n_shows)
    popularity = shows.column("popularity").to_numpy()
    series = np.flatnonzero(shows.column("kind").to_numpy(zero_copy_only=False) == "series")
    series_p = popularity[series] / popularity[series].sum()
    comfort = rng.choice(titles.num_rows, size=COMFORT_TITLES, replace=False)

    account_of = np.repeat(np.arange(n_accounts), counts)
    ages = np.clip(rng.normal(38, 14, size=n_profiles), 6, 92)
    # Activity: most profiles watch a little, a few a lot; about 4% binge.
    activity = rng.lognormal(0.0, 1.0, size=n_profiles)
    binger = rng.random(n_profiles) < 0.04
    activity[binger] *= 8
    rewatcher = rng.random(n_profiles) < REWATCHER_SHARE
    profiles = pa.table(
        {
            "profile_idx": np.arange(n_profiles),
            "account_idx": account_of,
            "profile_id": ["PR" + h.upper() for h in _hexes(rng, n_profiles, 8)],
            "profile_name": [first_names[i] for i in rng.integers(0, len(first_names), n_profiles)],
            "birth_date": [ANCHOR - timedelta(days=int(a * 365.25)) for a in ages],
            "gender": rng.choice(
                np.array(["F", "M", "X", None], dtype=object), size=n_profiles, p=[0.47, 0.46, 0.02, 0.05]
            ),
            "is_binger": binger,
            "favourite_show": series[rng.choice(len(series), size=n_profiles, p=series_p)],
            "prime_hour": np.clip(np.round(rng.normal(20, 2.5, size=n_profiles)), 0, 23).astype(np.int64),
            "preferred_slot": rng.integers(0, 3, size=n_profiles),
            "comfort_title": np.where(rewatcher, comfort[rng.integers(0, COMFORT_TITLES, size=n_profiles)], -1),
        }
    )

    model_names = list(DEVICE_MODELS)
    mw = np.array(list(DEVICE_MODELS.values()), dtype=float)
    devices = pa.table(
        {
            "account_idx": np.repeat(np.arange(n_accounts), 3),
            "slot": np.tile(np.arange(3), n_accounts),
            "device_id": _hexes(rng, 3 * n_accounts, 8),
            "device_model": [model_names[i] for i in rng.choice(len(model_names), 3 * n_accounts, p=mw / mw.sum())],
        }
    )
    return Population(accounts, profiles, devices, shows, titles, activity / activity.sum())


def _write_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({query}) TO $path (FORMAT parquet, COMPRESSION zstd)", {"path": str(path)})
    return str(path)


EVENTS_SQL = """
WITH picks AS (
    SELECT e.*, p.account_idx, p.profile_id, p.profile_name, p.is_binger, p.prime_hour, p.preferred_slot,
           p.favourite_show,
           row_number() OVER (PARTITION BY e.profile_idx ORDER BY e.seq) AS nth
    FROM chunk e JOIN profiles p USING (profile_idx)
),
content AS (
    SELECT picks.*,
           -- Bingers stay on one series and walk its episodes in order; others come back to a favourite.
           CASE WHEN is_binger AND binge THEN binge_show
                WHEN favourite THEN favourite_show
                ELSE show_idx END AS play_show
    FROM picks
),
titled AS (
    SELECT c.*, s.kind, s.show_name, s.n_episodes,
           CASE WHEN c.is_binger AND c.binge
                THEN (c.episode_seed + c.nth) % s.n_episodes
                ELSE c.episode_seed % s.n_episodes END AS episode,
           CASE WHEN c.at_prime THEN (c.prime_hour + c.hour_jitter + 24) % 24 ELSE c.hour END AS play_hour,
           CASE WHEN c.on_preferred THEN c.preferred_slot ELSE c.device_pick END AS slot_pick
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
        strftime(CAST($day AS TIMESTAMP) + to_seconds(t.play_hour * 3600 + t.second_in_hour),
                 '%Y-%m-%dT%H:%M:%SZ') AS started_at,
        CAST(CASE WHEN t.is_trailer THEN 20 + t.watch_u * 130
                  WHEN t.abandoned THEN t.watch_u * 240
                  WHEN t.kind = 'movie' THEN 1800 + t.watch_u * 6000
                  ELSE 600 + t.watch_u * 2800 END AS BIGINT) AS watch_seconds,
        a.country, a.city, a.postal_code
    FROM titled t
    JOIN accounts a USING (account_idx)
    JOIN devices d ON d.account_idx = t.account_idx AND d.slot = t.slot_pick % a.n_devices
)
SELECT * EXCLUDE (seq) FROM final ORDER BY seq
"""

REWATCH_SQL = """
SELECT substr(md5(p.profile_id || $day), 1, 8) || '-' || substr(md5(p.profile_id || $day), 9, 4) || '-4'
           || substr(md5(p.profile_id || $day), 14, 3) || '-b' || substr(md5(p.profile_id || $day), 18, 3) || '-'
           || substr(md5(p.profile_id || $day), 21, 12) AS event_id,
       a.account_id, p.profile_id, p.profile_name, a.email, a.ip_address, d.device_id, d.device_model,
       t.title_id, t.title_name, t.content_type,
       strftime(CAST($day AS TIMESTAMP) + to_seconds(p.prime_hour * 3600 + 1800), '%Y-%m-%dT%H:%M:%SZ') AS started_at,
       CAST(1200 AS BIGINT) AS watch_seconds, a.country, a.city, a.postal_code
FROM profiles p
JOIN accounts a USING (account_idx)
JOIN devices d ON d.account_idx = p.account_idx AND d.slot = p.preferred_slot % a.n_devices
JOIN titles t ON t.title_idx = p.comfort_title
WHERE p.comfort_title >= 0
ORDER BY p.profile_idx
"""


def _chunk(rng: np.random.Generator, key: str, start: int, n: int, pop: Population) -> pa.Table:
    popularity = pop.shows.column("popularity").to_numpy()
    n_shows = pop.shows.num_rows
    return pa.table(
        {
            "seq": np.arange(start, start + n),
            "event_key": [f"{key}-{start + i}" for i in range(n)],
            "profile_idx": rng.choice(len(pop.activity), size=n, p=pop.activity),
            "show_idx": rng.choice(n_shows, size=n, p=popularity),
            "binge_show": rng.choice(n_shows, size=n, p=popularity),
            "binge": rng.random(n) < 0.8,
            "favourite": rng.random(n) < FAVOURITE_SHARE,
            "episode_seed": rng.integers(0, 1000, size=n),
            "is_trailer": rng.random(n) < 0.07,
            "abandoned": rng.random(n) < 0.12,
            "watch_u": rng.random(n),
            "hour": rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum()),
            "at_prime": rng.random(n) < PRIME_HOUR_SHARE,
            "hour_jitter": rng.integers(-1, 2, size=n),
            "second_in_hour": rng.integers(0, 3600, size=n),
            "device_pick": rng.integers(0, 3, size=n),
            "on_preferred": rng.random(n) < PREFERRED_DEVICE_SHARE,
            "on_mobile_ip": rng.random(n) < 0.05,
        }
    )


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
    pop: Population | None = None,
) -> GenerateResult:
    """Write one night: viewing events (jsonl.gz parts), the subscriber and catalogue snapshots."""
    if events < 1:
        raise ValueError("events must be at least 1")
    t0 = time.perf_counter()
    raw_root = Path(raw_root)
    n_profiles = max(40, events // 5)
    pop = pop or population(seed, n_profiles, int(np.clip(events // 150, 60, 30_000)))
    rng = np.random.default_rng([seed, day.toordinal()])
    dt = f"dt={day.isoformat()}"

    con = duckdb.connect()
    con.execute("SET threads = 2")
    for name in ("accounts", "profiles", "devices", "shows", "titles"):
        con.register(name, getattr(pop, name))
    subscriber_file = _write_parquet(
        con,
        "SELECT a.account_id, p.profile_id, p.birth_date, p.gender, a.plan, a.signup_date "
        "FROM profiles p JOIN accounts a USING (account_idx) ORDER BY p.profile_idx",
        raw_root / "subscribers" / dt / "part-00000.parquet",
    )
    # Tonight's snapshot lacks the shows added late; their plays still reference them.
    catalogue_file = _write_parquet(
        con,
        f"SELECT {', '.join('t.' + c for c in TITLE_COLUMNS)} FROM titles t JOIN shows s USING (show_idx) "
        "WHERE NOT s.late ORDER BY title_id",
        raw_root / "titles" / dt / "part-00000.parquet",
    )

    out_dir = raw_root / "viewing_events" / dt
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part-*"):
        old.unlink()
    files: list[str] = []
    sample: list[dict] = []
    n_dirty = round(events * dirty_fraction)
    for part, start in enumerate(range(0, events, chunk_events)):
        n = min(chunk_events, events - start)
        chunk_rng = np.random.default_rng([seed, day.toordinal(), part + 1])
        con.register("chunk", _chunk(chunk_rng, f"{seed}-{day}", start, n, pop))
        path = out_dir / f"part-{part:05d}.jsonl.gz"
        con.execute(f"COPY ({EVENTS_SQL}) TO $path (FORMAT json, COMPRESSION gzip)", {"path": str(path), "day": day})
        if n_dirty and not sample:
            cur = con.execute(f"{EVENTS_SQL} LIMIT $n", {"day": day, "n": n_dirty})
            cols = [d[0] for d in cur.description]
            sample = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        files.append(str(path))
        log.info(
            "generate: wrote %s events for %s (%d/%d)", f"{start + n:,}", day, part + 1, -(-events // chunk_events)
        )
    rewatch = out_dir / f"part-{len(files):05d}.jsonl.gz"
    con.execute(f"COPY ({REWATCH_SQL}) TO $path (FORMAT json, COMPRESSION gzip)", {"path": str(rewatch), "day": day})
    rewatches = int(con.execute(f"SELECT count(*) FROM ({REWATCH_SQL})", {"day": day}).fetchone()[0])
    files.append(str(rewatch))
    if n_dirty:
        path = out_dir / f"part-{len(files):05d}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for line in _dirty_lines(rng, sample, day):
                fh.write(line + "\n")
        files.append(str(path))
    return GenerateResult(
        events=events + rewatches + n_dirty,
        profiles=n_profiles,
        accounts=pop.accounts.num_rows,
        titles=pop.titles.num_rows,
        dirty_events=n_dirty,
        event_files=files,
        subscriber_file=subscriber_file,
        catalogue_file=catalogue_file,
        seconds=round(time.perf_counter() - t0, 2),
    )


def generate_days(
    raw_root: str | Path, first: date, days: int, events: int, seed: int = 7, dirty_fraction: float = 0.0
) -> list[GenerateResult]:
    """Several consecutive nights of one population (the same people, habits that carry over)."""
    pop = population(seed, max(40, events // 5), int(np.clip(events // 150, 60, 30_000)))
    return [
        generate_day(raw_root, first + timedelta(days=i), events, seed, dirty_fraction, pop=pop) for i in range(days)
    ]

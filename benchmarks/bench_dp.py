"""Benchmark: accuracy of the DP audience release (issue 11) on one generated night.

Runs the `title_audience_dp` export R times on the same raw day, each time with a fresh out and
work root (so a fresh budget ledger and fresh noise) and one temp key, and compares the published
per-title viewers with two exact counts computed here, independently of the pipeline, by DuckDB
from the raw files:

* true: distinct people (account_id, profile_id) per catalogue title among the night's valid
  plays (the raw JSON lines, checked like the contract does, one copy per event id, joined with
  the subscriber snapshot, people under 16 on the day left out: the policy's minors rule);
* bounded: the same, counting each person for at most `max_titles_per_night` titles, the ones
  they played most (ties by total seconds desc, then title id: the rule of dp_person_titles.sql).

So |published - true| / true splits into the bounding bias (bounded vs true, no noise) and the
noise (published vs bounded). The titles are the top 100 by true viewers; a title the release
leaves out (its noisy viewers below their own error_95) counts as published 0. The same is
reported for the per-title plays of those titles (plays capped per person and title too).

    python benchmarks/bench_dp.py [--events 1000000] [--data-dir var/bench] [--repeats 5]
        [--top 100] [--json out.json]

The raw day is `<data-dir>/raw-<events>` (day 2026-11-23), generated like benchmarks/bench.py
does (seed 11, 0.1% dirty lines) when missing. Not part of the test suite. Record the printed
table in docs/BENCHMARKS.md with the machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import yaml
from bench import DAY, ensure_raw  # the same generated day as benchmarks/bench.py (run as a script)

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "title_audience_dp.yaml"
EXPORT = "title_audience_dp"

# The contract's checks (transforms/config/contract.py), restated here so the truth does not
# come from the pipeline's own SQL.
CONTENT_TYPES = ("movie", "episode", "trailer")
MAX_WATCH_SECONDS = 86_400
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")

TRUTH = """
WITH lines AS (
    SELECT * FROM read_json($events, format = 'newline_delimited', ignore_errors = true,
                            hive_partitioning = false,
                            columns = {event_id: 'VARCHAR', account_id: 'VARCHAR',
                                       profile_id: 'VARCHAR', title_id: 'VARCHAR',
                                       content_type: 'VARCHAR', started_at: 'VARCHAR',
                                       watch_seconds: 'VARCHAR', country: 'VARCHAR'})
),
valid AS (
    SELECT account_id, profile_id, title_id, CAST(watch_seconds AS BIGINT) AS seconds
    FROM lines
    WHERE coalesce(trim(account_id), '') <> '' AND coalesce(trim(profile_id), '') <> ''
      AND coalesce(trim(event_id), '') <> '' AND coalesce(trim(title_id), '') <> ''
      AND try_strptime(started_at, $formats) >= CAST($day AS TIMESTAMP)
      AND try_strptime(started_at, $formats) < CAST($day AS TIMESTAMP) + INTERVAL 1 DAY
      AND regexp_full_match(watch_seconds, '[0-9]{1,12}')
      AND CAST(watch_seconds AS BIGINT) <= $max_watch
      AND regexp_full_match(country, '[A-Z]{2}')
      AND content_type IN (SELECT unnest($content_types))
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY started_at, title_id) = 1
),
people AS (
    SELECT account_id, profile_id, any_value(birth_date) AS birth_date
    FROM read_parquet($subscribers, hive_partitioning = false)
    GROUP BY ALL
),
plays AS (
    SELECT v.* FROM valid v JOIN people p USING (account_id, profile_id)
    WHERE NOT coalesce(date_sub('year', p.birth_date, CAST($day AS DATE)) < $minors_under, false)
),
per_title AS (
    SELECT account_id, profile_id, title_id, count(*) AS plays, sum(seconds) AS seconds,
           row_number() OVER (PARTITION BY account_id, profile_id
                              ORDER BY count(*) DESC, sum(seconds) DESC, title_id) AS title_rank
    FROM plays
    WHERE title_id IN (SELECT title_id FROM read_parquet($titles, hive_partitioning = false))
    GROUP BY account_id, profile_id, title_id
)
SELECT title_id,
       count(*) AS viewers,
       count(*) FILTER (WHERE title_rank <= $max_titles) AS viewers_bounded,
       sum(plays)::BIGINT AS plays,
       coalesce(sum(least(plays, $max_plays)) FILTER (WHERE title_rank <= $max_titles), 0)::BIGINT
           AS plays_bounded,
       -- For the check against the manifest's counts (summed in Python).
       count(*) FILTER (WHERE title_rank = 1) AS _first_titles,
       (SELECT count(*) FROM plays) AS _plays_in,
       (SELECT count(DISTINCT (account_id, profile_id)) FROM plays) AS _people_in
FROM per_title
GROUP BY title_id
"""


def exact_counts(raw: Path, dp: dict) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per catalogue title: true and bounded viewers and plays; and the night's totals."""
    day = DAY.isoformat()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    rows = con.execute(
        TRUTH,
        {
            "events": str(raw / "viewing_events" / f"dt={day}" / "*.jsonl.gz"),
            "subscribers": str(raw / "subscribers" / f"dt={day}" / "*.parquet"),
            "titles": str(raw / "titles" / f"dt={day}" / "*.parquet"),
            "day": day,
            "formats": list(TIMESTAMP_FORMATS),
            "max_watch": MAX_WATCH_SECONDS,
            "content_types": list(CONTENT_TYPES),
            "minors_under": 16,
            "max_titles": dp["max_titles_per_night"],
            "max_plays": dp["max_plays_per_title"],
        },
    ).fetchall()
    per_title = {r[0]: {"viewers": r[1], "viewers_bounded": r[2], "plays": r[3], "plays_bounded": r[4]} for r in rows}
    totals = {
        "plays_in": rows[0][6],
        "people_in": rows[0][7],
        "plays_in_catalogue": sum(r[3] for r in rows),
        "plays_counted": sum(r[4] for r in rows),
        "people_counted": sum(r[5] for r in rows),  # people with a catalogue title (rank 1 once each)
        "titles_with_viewers": len(rows),
    }
    return per_title, totals


def run_once(raw: Path, key: Path, tmp: Path, i: int) -> tuple[float, dict, dict, dict]:
    """One run of the export with a fresh out and work root: (seconds, manifest, the private
    accounting's exact counts, the published per-title values)."""
    out, work = tmp / f"out-{i}", tmp / f"work-{i}"
    cmd = [
        sys.executable,
        "-m",
        "transforms",
        "run",
        "--policy",
        str(POLICY),
        "--day",
        str(DAY),
        "--raw-root",
        str(raw),
        "--out-root",
        str(out),
        "--work-root",
        str(work),
        "--key-file",
        str(key),
        "--run-id",
        f"bench-dp-{i}",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bench_dp: run {i} failed:\n{proc.stderr[-3000:]}")
    folder = out / EXPORT / f"day={DAY}"
    manifest = json.loads((folder / "_manifest.json").read_text())
    # The exact counts stay private (the manifest's `counts` is empty): the accounting file
    # in the work root's DP state has them, for the check of the truth computed here.
    found = sorted((work / EXPORT).rglob(f"accounting/day={DAY}.json"))
    counts = json.loads(found[0].read_text()) if found else (manifest.get("counts") or {})
    table = pq.read_table(folder / "part-00000.parquet").to_pylist()
    published = {
        (r["measure"], r["title_id"]): r["value"] for r in table if r["grouping"] == "title_id" and r["location"] == "*"
    }
    return seconds, manifest, counts, published


def vector_info(manifest: dict, measure: str) -> dict:
    """The manifest's entry (rho, sensitivity, scale, error_95, ...) for a per-title vector."""
    measures = manifest["release"]["measures"]
    return next(m for m in measures if m["grouping"] == "title_id" and m["measure"] == measure)


def steady_state_plan(measure: str) -> dict:
    """The per-title vector's plan on a night with the multi-night measures published (the
    benchmark's fresh ledgers have no earlier nights, so the night's rho is shared by fewer
    vectors than in steady state). Depends on the policy only."""
    from transforms.config.policy import load_policy
    from transforms.exports.dp.protect import vectors
    from transforms.privacy import dp

    policy = load_policy(POLICY)
    wanted = vectors(policy, True)
    names = {f"{v['grouping']}:{v['measure']}": v for v in wanted}
    shares = dp.split(policy.dp.rho_per_night, {k: v["weight"] for k, v in names.items()})
    p = dp.plan(shares[f"title_id:{measure}"], names[f"title_id:{measure}"]["sensitivity"])
    return {"rho": p.rho, "scale": p.scale, "error_95": dp.accuracy95(p.scale)}


def quantiles(x: list[float]) -> dict[str, float]:
    a = np.asarray(x, dtype=float)
    return {"median": float(np.median(a)), "p95": float(np.quantile(a, 0.95)), "max": float(a.max())}


def bench(events: int, data_dir: Path, repeats: int, top: int) -> dict:
    policy = yaml.safe_load(POLICY.read_text())
    dp = policy["dp"]
    raw = ensure_raw(events, data_dir)
    t0 = time.perf_counter()
    exact, totals = exact_counts(raw, dp)
    truth_seconds = time.perf_counter() - t0
    ranked = sorted(exact, key=lambda t: (-exact[t]["viewers"], t))[:top]
    runs = []
    errors: dict[str, dict[str, list[float]]] = {m: {"vs_true": [], "vs_bounded": []} for m in ("viewers", "plays")}
    with tempfile.TemporaryDirectory(prefix="bench-dp-") as tmp_name:
        tmp = Path(tmp_name)
        key = tmp / "bench.key"
        key.write_text("base64:" + base64.b64encode(os.urandom(32)).decode())
        for i in range(repeats):
            seconds, manifest, counts, published = run_once(raw, key, tmp, i)
            run = {"seconds": round(seconds, 2), "counts": counts, "window": manifest["release"].get("window_measures")}
            for m in ("viewers", "plays"):
                shown = [(m, t) in published for t in ranked]
                run[f"{m}_published_of_top"] = sum(shown)
                for t in ranked:
                    value = published.get((m, t), 0.0)  # left out of the release: counted as 0
                    e = exact[t]
                    errors[m]["vs_true"].append(abs(value - e[m]) / e[m])
                    errors[m]["vs_bounded"].append(abs(value - e[f"{m}_bounded"]) / max(e[f"{m}_bounded"], 1))
                run[m] = vector_info(manifest, m)
            runs.append(run)
            print(f"bench_dp: run {i + 1}/{repeats}: {seconds:.1f} s", file=sys.stderr)
    bias = {
        m: quantiles([(exact[t][m] - exact[t][f"{m}_bounded"]) / exact[t][m] for t in ranked])
        for m in ("viewers", "plays")
    }
    top_true = [exact[t]["viewers"] for t in ranked]
    return {
        "events": events,
        "day": DAY.isoformat(),
        "raw_mb": round(sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6, 1),
        "repeats": repeats,
        "top": top,
        "truth_seconds": round(truth_seconds, 2),
        "truth_totals": totals,
        "pipeline_counts": runs[0]["counts"],
        "window_measures": runs[0]["window"],
        "top_true_viewers": {"max": max(top_true), "min": min(top_true)},
        "catalogue_titles": runs[0]["viewers"]["cells"],
        "run_seconds": [r["seconds"] for r in runs],
        "measures": {
            m: {
                "rel_error_vs_true": quantiles(errors[m]["vs_true"]),
                "rel_error_vs_bounded": quantiles(errors[m]["vs_bounded"]),
                "bounding_bias": bias[m],
                "published_of_top": [r[f"{m}_published_of_top"] for r in runs],
                "manifest": {k: runs[0][m][k] for k in ("rho", "sensitivity", "scale", "error_95")},
                "steady_state": steady_state_plan(m),
            }
            for m in ("viewers", "plays")
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench")
    p.add_argument("--repeats", type=int, default=5, help="runs, each with a fresh ledger and fresh noise")
    p.add_argument("--top", type=int, default=100, help="titles compared, by true viewers")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    r = bench(args.events, args.data_dir, args.repeats, args.top)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps(r), file=sys.stderr)
    report(r, machine)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "result": r}, indent=2))


def report(r: dict, machine: str) -> None:
    """The printed summary and markdown table."""
    t, mc = r["truth_totals"], r["pipeline_counts"]
    print(f"machine: {machine}, policy: {POLICY.name}, {r['events']:,} events ({r['raw_mb']} MB raw), day {r['day']}")
    print(
        f"check against the pipeline's private accounting: plays in {t['plays_in']:,} / {_n(mc.get('plays_in'))}, "
        f"people in {t['people_in']:,} / {_n(mc.get('people_in'))}, "
        f"plays counted {t['plays_counted']:,} / {_n(mc.get('plays_counted'))}, "
        f"people counted {t['people_counted']:,} / {_n(mc.get('people_counted'))} (here / pipeline)"
    )
    lo, hi = r["top_true_viewers"]["min"], r["top_true_viewers"]["max"]
    print(
        f"top {r['top']} titles by true viewers: {lo:,} to {hi:,} viewers; {r['catalogue_titles']:,} catalogue "
        f"titles released; {r['repeats']} runs, wall s {', '.join(str(s) for s in r['run_seconds'])}\n"
    )
    print(
        "| measure | scale | error_95 | bounding bias median / p95 | rel. error vs bounded median / p95 "
        "| rel. error vs true median / p95 | published of top |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, m in r["measures"].items():
        man, b, vb, vt = m["manifest"], m["bounding_bias"], m["rel_error_vs_bounded"], m["rel_error_vs_true"]
        print(
            f"| {name} | {man['scale']:.2f} | {man['error_95']:.1f} | {b['median']:.2%} / {b['p95']:.2%} "
            f"| {vb['median']:.2%} / {vb['p95']:.2%} | {vt['median']:.2%} / {vt['p95']:.2%} "
            f"| {min(m['published_of_top'])}-{max(m['published_of_top'])} of {r['top']} |"
        )
    print()
    for name, m in r["measures"].items():
        s = m["steady_state"]
        print(
            f"{name}: rho {m['manifest']['rho']:.4g} on this first night; with the multi-night measures "
            f"published, rho {s['rho']:.4g}, scale {s['scale']:.2f}, error_95 {s['error_95']:.1f}"
        )


def _n(x: object) -> str:
    return f"{x:,}" if isinstance(x, int) else "?"


if __name__ == "__main__":
    main()

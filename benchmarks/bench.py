"""Benchmark: the whole nightly run and each stage, next to the floor, for N generated events.

The floor is DuckDB alone reading the same raw day (JSON lines joined with the subscriber
snapshot) and writing it back as Parquet: no checks, no privacy. Each measurement runs in its
own process so peak memory (max RSS) is per measurement.

    python benchmarks/bench.py --events 1000000 10000000 [--data-dir var/bench] [--json out.json]
        [--stages] [--history-cost] [--policy policies/title_audience.yaml] [--engine spark]

With `--engine spark` the run uses the Spark engine in local mode (`EXPORT_SPARK_MASTER`,
default `local[*]`); its peak is the larger of the Python driver's and the JVM's (max RSS is
per process), not their sum.

Not part of the test suite. Record the printed table in docs/BENCHMARKS.md with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 23)
POLICY = ROOT / "policies" / "viewing_sessions.yaml"

FLOOR = """
import sys, duckdb
raw, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f'''
    COPY (
        SELECT * FROM read_json('{raw}/viewing_events/dt=DAY/*.jsonl.gz',
                                format = 'newline_delimited', ignore_errors = true)
        LEFT JOIN read_parquet('{raw}/subscribers/dt=DAY/*.parquet', hive_partitioning = false)
        USING (account_id, profile_id)
    ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)''')
""".replace("DAY", DAY.isoformat())


# Runs one command and reports that command's own peak RSS (a fresh parent per measurement).
WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)


def _child(cmd: list[str]) -> tuple[float, int, str]:
    """Run a command; return (seconds, its peak RSS in MB, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        # The CLI's own lines (its error says what failed), not a JVM's stack traces after them.
        ours = [line for line in proc.stderr.splitlines() if not line.startswith(("\t", "Exception in thread"))]
        sys.exit(f"bench: {' '.join(cmd[:4])} failed:\n" + "\n".join(ours[-40:]))
    peak_kb = int(proc.stderr.rsplit("MAXRSS_KB", 1)[1].split()[0])
    return seconds, peak_kb // 1024, proc.stdout


STAGE = """
import json, sys
from transforms.context import RunContext
from transforms.ops.keys import load_key_ring
from transforms.pipeline import run_stage
ctx = RunContext.from_dict(json.loads(sys.argv[1]))
ring = load_key_ring(sys.argv[3]) if sys.argv[2] == "pseudonymize" else None
print(json.dumps(run_stage(sys.argv[2], ctx, ring)))
"""


def per_stage(events: int, data_dir: Path, key: Path) -> dict:
    """Each stage in its own process, as Airflow runs the tasks: seconds and peak RSS per stage."""
    ctx = {
        "policy_path": str(POLICY),
        "day": DAY.isoformat(),
        "run_id": f"bench-stages-{events}",
        "raw_root": str(data_dir / f"raw-{events}"),
        "out_root": str(data_dir / f"out-stages-{events}"),
        "work_root": str(data_dir / "work"),
        "quarantine_root": None,
    }
    out = {}
    from transforms.stages import NAMES

    for stage in NAMES:
        seconds, peak, _ = _child([sys.executable, "-c", STAGE, json.dumps(ctx), stage, str(key)])
        out[stage] = {"seconds": round(seconds, 2), "peak_mb": peak}
    return out


def without_history(data_dir: Path) -> Path:
    """The shipped policy with history protection off (row k only), beside its reference data."""
    import yaml

    data = yaml.safe_load(POLICY.read_text())
    data["privacy"].pop("history", None)
    folder = data_dir / "policy-rows-only"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "reference").exists():
        (folder / "reference").symlink_to(POLICY.parent / "reference")
    path = folder / POLICY.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(
    policy: Path, raw: Path, out: Path, key: Path, work: Path, run_id: str, engine: str = "duckdb"
) -> tuple[float, int, dict]:
    seconds, peak, stdout = _child(
        [
            sys.executable,
            "-m",
            "transforms",
            "run",
            "--policy",
            str(policy),
            "--day",
            str(DAY),
            "--raw-root",
            str(raw),
            "--out-root",
            str(out),
            "--key-file",
            str(key),
            "--work-root",
            str(work),
            "--run-id",
            run_id,
            "--engine",
            engine,
        ]
    )
    return seconds, peak, json.loads(stdout)


def ensure_raw(events: int, data_dir: Path) -> Path:
    """The raw day `<data-dir>/raw-<events>` (seed 11, 0.1% dirty lines), generated once and kept."""
    raw = data_dir / f"raw-{events}"
    if not (raw / "viewing_events" / f"dt={DAY}").exists():
        print(f"bench: generating {events:,} events in {raw}", file=sys.stderr)
        cmd = ["generate", "--raw-root", str(raw), "--day", str(DAY), "--events", str(events)]
        _child([sys.executable, "-m", "transforms", *cmd, "--seed", "11", "--dirty-fraction", "0.001"])
    return raw


def bench(
    events: int,
    data_dir: Path,
    stages: bool = False,
    history_cost: bool = False,
    policy: Path = POLICY,
    engine: str = "duckdb",
) -> dict:
    raw = ensure_raw(events, data_dir)
    raw_bytes = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())
    floor_out = data_dir / f"floor-{events}.parquet"
    floor_s, floor_mb, _ = _child([sys.executable, "-c", FLOOR, str(raw), str(floor_out)])
    floor_out.unlink(missing_ok=True)

    key = data_dir / "bench.key"
    if not key.exists():
        key.write_text("base64:" + __import__("base64").b64encode(os.urandom(32)).decode())
    # A new run each time: a run id that failed before would resume its work folder (and its engine).
    run_id = f"bench-{engine}-{events}-{int(time.time())}"
    run_s, run_mb, summary = _run(policy, raw, data_dir / f"out-{events}", key, data_dir / "work", run_id, engine)
    manifest = json.loads(Path(summary["manifest"]).read_text())
    if manifest.get("kind") == "aggregate":
        detail = {"people": manifest["counts"]["people_in"], "cells": manifest["cells"], "audit": manifest["audit"]}
    else:
        detail = {"people": manifest["counts"]["people_in"], "levels": manifest["levels"], "search": manifest["search"]}
    extra = {"per_stage_process": per_stage(events, data_dir, key)} if stages else {}
    if history_cost:
        # The same night with history protection off: what protecting people adds to the run.
        rows_s, rows_mb, rows = _run(
            without_history(data_dir), raw, data_dir / f"out-rows-{events}", key, data_dir / "work", f"rows-{events}"
        )
        extra["without_history"] = {
            "run_seconds": round(rows_s, 2),
            "peak_mb": rows_mb,
            "stage_seconds": rows["stage_seconds"],
            "added_seconds": round(run_s - rows_s, 2),
            "added_share_of_run": round((run_s - rows_s) / run_s, 3),
        }
    return {
        **extra,
        "events": events,
        "engine": engine,
        "raw_mb": round(raw_bytes / 1e6, 1),
        "floor_seconds": round(floor_s, 2),
        "floor_peak_mb": floor_mb,
        "run_seconds": round(run_s, 2),
        "run_peak_mb": run_mb,
        "ratio_to_floor": round(run_s / floor_s, 2),
        "stage_seconds": summary["stage_seconds"],
        "published_rows": summary["published_rows"],
        "suppressed_rows": summary["suppressed_rows"],
        "rejected_rows": summary["rejected_rows"],
        **detail,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--stages", action="store_true", help="also run each stage in its own process (peak MB per stage)")
    p.add_argument(
        "--history-cost", action="store_true", help="also run with history protection off: what it adds to the run"
    )
    p.add_argument("--policy", type=Path, default=POLICY, help="the export policy to run (default: the row export)")
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb", help="the engine of the run")
    args = p.parse_args()
    if args.policy != POLICY and (args.stages or args.history_cost):
        p.error("--stages and --history-cost measure the row export; use them without --policy")
    if args.engine != "duckdb" and (args.stages or args.history_cost):
        p.error("--stages and --history-cost measure the DuckDB engine; use them without --engine")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results = []
    for n in args.events:
        r = bench(n, args.data_dir, args.stages, args.history_cost, args.policy.resolve(), args.engine)
        results.append(r)
        print(json.dumps(r), file=sys.stderr)
    print(f"machine: {machine}, policy: {args.policy.name}, engine: {args.engine}\n")
    stages = list(results[0]["stage_seconds"])
    print("| events | raw MB | floor s | run s | run/floor | peak MB (floor/run) | " + " | ".join(stages) + " |")
    print("|" + "---|" * (6 + len(stages)))
    for r in results:
        cells = [
            f"{r['events']:,}",
            f"{r['raw_mb']}",
            f"{r['floor_seconds']}",
            f"{r['run_seconds']}",
            f"{r['ratio_to_floor']}x",
            f"{r['floor_peak_mb']}/{r['run_peak_mb']}",
        ]
        cells += [f"{r['stage_seconds'][s]:.2f}" for s in stages]
        print("| " + " | ".join(cells) + " |")
    if args.stages:
        print("\nEach stage in its own process (as Airflow runs them): seconds / peak MB\n")
        print("| events | " + " | ".join(stages) + " |")
        print("|" + "---|" * (1 + len(stages)))
        for r in results:
            s = r["per_stage_process"]
            print(f"| {r['events']:,} | " + " | ".join(f"{s[x]['seconds']} / {s[x]['peak_mb']}" for x in stages) + " |")
    if args.history_cost:
        print("\nWhat history protection adds (the same night with `privacy.history` removed from the policy)\n")
        print("| events | run s | without history s | added s | share of the run | anonymize s (with / without) |")
        print("|---|---|---|---|---|---|")
        for r in results:
            w = r["without_history"]
            print(
                f"| {r['events']:,} | {r['run_seconds']} | {w['run_seconds']} | {w['added_seconds']} | "
                f"{w['added_share_of_run']:.0%} | {r['stage_seconds']['anonymize']:.2f} / "
                f"{w['stage_seconds']['anonymize']:.2f} |"
            )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()

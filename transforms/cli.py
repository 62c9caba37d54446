"""Command line: `python -m transforms {generate,run,backfill,anonymize} ...`. See README.md."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from transforms import storage
from transforms.errors import ExportError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day; use YYYY-MM-DD") from None


def _engine_arguments(p: argparse.ArgumentParser) -> None:
    from transforms.context import ENGINES

    p.add_argument("--engine", choices=ENGINES, default="duckdb", help="engine of the heavy steps (default duckdb)")
    p.add_argument(
        "--spark-remote",
        metavar="URL",
        help="with --engine spark: a Spark Connect server (sc://host:15002) instead of a local session",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m transforms", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write realistic fake raw data: one night, or several of one population")
    g.add_argument("--raw-root", required=True, type=Path)
    g.add_argument("--day", required=True, type=_day, help="the (first) night")
    g.add_argument("--days", type=int, default=1, help="consecutive nights of the same people")
    g.add_argument("--events", type=int, default=100_000, help="events per night")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument(
        "--dirty-fraction",
        type=float,
        default=0.001,
        help="share of extra dirty lines (malformed, duplicates, out of day, ...)",
    )

    r = sub.add_parser("run", help="run one export for one day without Airflow")
    r.add_argument("--policy", required=True, type=Path)
    r.add_argument("--day", required=True, type=_day)
    r.add_argument("--raw-root", required=True, type=_root)
    r.add_argument("--out-root", required=True, type=_root)
    r.add_argument("--key-file", type=Path, help="key file (else $PSEUDONYMIZATION_SECRET)")
    r.add_argument("--work-root", type=_root, help="private scratch folder (default: a temp folder)")
    r.add_argument("--quarantine-root", type=_root, help="where rejected raw rows are kept (raw data's access domain)")
    r.add_argument("--run-id", help="run id recorded in the manifest (default: cli__<UTC time>)")
    _engine_arguments(r)

    b = sub.add_parser("backfill", help="run one export for each day of a range, each day independent")
    b.add_argument("--policy", required=True, type=Path)
    b.add_argument("--from", dest="first", required=True, type=_day)
    b.add_argument("--to", dest="last", required=True, type=_day)
    b.add_argument("--raw-root", required=True, type=_root)
    b.add_argument("--out-root", required=True, type=_root)
    b.add_argument("--key-file", type=Path)
    b.add_argument("--work-root", type=_root)
    b.add_argument("--quarantine-root", type=_root)
    _engine_arguments(b)

    d = sub.add_parser("budget", help="a DP export's privacy budget: spent and remaining per rolling window")
    d.add_argument("--policy", required=True, type=Path, help="a policy with `protection: dp`")
    d.add_argument("--work-root", required=True, type=_root, help="the private work root of the runs (the ledger)")
    d.add_argument("--day", help="show the window ending on this day too (YYYY-MM-DD; default: today, UTC)")

    a = sub.add_parser("anonymize", help="anonymize any CSV with ARX hierarchies (the engine alone)")
    a.add_argument("--input", required=True, type=Path)
    a.add_argument("--hierarchies", required=True, type=Path, help="folder of *_hierarchy_<attr>.csv files")
    a.add_argument("--qi", required=True, help="quasi-identifier columns, comma separated")
    a.add_argument("--k", required=True, type=int)
    a.add_argument("--suppression", type=float, default=0.0, help="share of records that may be suppressed")
    a.add_argument("--metric", choices=["loss", "precision", "discernibility"], default="loss")
    a.add_argument("--sensitive", help="column whose l-diversity is reported")
    a.add_argument("--l", type=int, default=0, help="enforce distinct l-diversity of --sensitive")
    a.add_argument("--output", type=Path)
    return p


def _root(text: str):
    """A root: a local folder, or an object-store URI (`s3://bucket/prefix`, see transforms/storage.py)."""
    return storage.location(text)


def _absolute(root) -> str:
    return str(root) if storage.is_remote(root) else str(root.resolve())


def _check_dp_work_root(args) -> None:
    """A DP export's ledger and stored releases live under the work root: it must persist."""
    from transforms.config.policy import load_policy
    from transforms.errors import PolicyError

    if args.work_root is None and load_policy(args.policy).export_kind == "dp":
        raise PolicyError(
            f"{args.policy.name} is a DP release: its privacy-budget ledger and stored releases live under the work "
            "root, so give a persistent private folder with --work-root (a temporary one would forget the spend)"
        )


def _budget(args) -> int:
    from datetime import UTC, datetime

    from transforms.config.policy import load_policy
    from transforms.context import Layout
    from transforms.errors import PolicyError
    from transforms.ops.ledger import open_ledger

    policy = load_policy(args.policy)
    if policy.export_kind != "dp":
        raise PolicyError(f"{args.policy.name} has no privacy budget: only policies with `protection: dp` keep one")
    b = policy.dp.budget
    folder = Layout(out_root=args.work_root, work_root=args.work_root).dp_root(policy.export)
    today = args.day or datetime.now(UTC).date().isoformat()
    ledger = open_ledger(folder)
    rows = ledger.summary(b.rho, b.window_nights, today)
    print(
        json.dumps(
            {
                "export": policy.export,
                "ledger": str(ledger.path),
                "accounting": policy.dp.accounting,
                "budget_rho": b.rho,
                "window_nights": b.window_nights,
                "rho_per_night": policy.dp.rho_per_night,
                "nights_released": len(ledger.spend()),
                "windows": rows,
            },
            indent=2,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "generate":
            generate_days = _generator()
            nights = generate_days(args.raw_root, args.day, args.days, args.events, args.seed, args.dirty_fraction)
            res = nights[-1]
            print(
                json.dumps(
                    {
                        "nights": len(nights),
                        "events": sum(n.events for n in nights),
                        "profiles": res.profiles,
                        "titles": res.titles,
                        "dirty_events": sum(n.dirty_events for n in nights),
                        "seconds": round(sum(n.seconds for n in nights), 2),
                        "raw_root": str(args.raw_root),
                    }
                )
            )
            return 0
        if args.command == "anonymize":
            from transforms.privacy.tabular import anonymize_csv

            res = anonymize_csv(
                args.input,
                args.hierarchies,
                [q.strip() for q in args.qi.split(",")],
                args.k,
                args.suppression,
                args.metric,
                args.output,
                args.sensitive,
                args.l,
            )
            print(json.dumps(res.to_dict(), indent=2))
            return 0
        if args.command == "budget":
            return _budget(args)
        from transforms.context import RunContext
        from transforms.ops.keys import load_key_ring
        from transforms.pipeline import run_all

        _check_dp_work_root(args)

        ring = load_key_ring(args.key_file)
        if args.spark_remote:
            if args.engine != "spark":
                print("error: --spark-remote needs --engine spark", file=sys.stderr)
                return 2
            os.environ["EXPORT_SPARK_REMOTE"] = args.spark_remote
        if args.command == "backfill":
            return _backfill(args, ring)
        with tempfile.TemporaryDirectory(prefix="viewing-export-") as tmp:
            ctx = RunContext(
                policy_path=str(args.policy.resolve()),
                day=args.day.isoformat(),
                run_id=args.run_id or "cli__" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
                raw_root=_absolute(args.raw_root),
                out_root=_absolute(args.out_root),
                work_root=_absolute(args.work_root or Path(tmp)),
                quarantine_root=_absolute(args.quarantine_root) if args.quarantine_root else None,
                engine=args.engine,
            )
            print(json.dumps(run_all(ctx, ring), indent=2))
        return 0
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _backfill(args: argparse.Namespace, ring) -> int:
    """Each day is its own idempotent run; one failing day does not stop the others."""
    from datetime import timedelta

    from transforms.context import RunContext
    from transforms.pipeline import run_all

    if args.last < args.first:
        print("error: --to is before --from", file=sys.stderr)
        return 2
    results, failed = {}, 0
    day = args.first
    while day <= args.last:
        with tempfile.TemporaryDirectory(prefix="viewing-export-") as tmp:
            ctx = RunContext(
                policy_path=str(args.policy.resolve()),
                day=day.isoformat(),
                run_id=f"backfill__{day.isoformat()}",
                raw_root=_absolute(args.raw_root),
                out_root=_absolute(args.out_root),
                work_root=_absolute(args.work_root or Path(tmp)),
                quarantine_root=_absolute(args.quarantine_root) if args.quarantine_root else None,
                engine=args.engine,
            )
            try:
                out = run_all(ctx, ring)
                results[day.isoformat()] = {"status": "published", "published_rows": out.get("published_rows")}
            except ExportError as exc:
                failed += 1
                results[day.isoformat()] = {"status": "failed", "reason": str(exc)}
                logging.getLogger("transforms.backfill").error("backfill %s failed: %s", day, exc)
        day += timedelta(days=1)
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


def _generator():
    """The fake-data generator is a development tool (devtools/, Faker from requirements-dev.txt)."""
    try:
        from devtools.fake_logs import generate_days
    except ImportError as exc:
        raise ExportError(
            f"the generator needs the development tools ({exc.name} is missing): "
            "pip install -r requirements-dev.txt (scripts/setup.sh does)"
        ) from None
    return generate_days

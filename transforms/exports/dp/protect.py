"""Protect a DP audience release: bound each person's contribution, then add OpenDP noise,
spending budget from the export's ledger (or return the night's stored release).

Reads   work/generalized.parquet, work/lookups/*.parquet, work/catalogue.parquet,
        the window's earlier nights' pairs (<work-root>/<export>/_dp/window/)
Writes  the night's stored release (<work-root>/<export>/_dp/releases/day=.../: the published
        table and release.json), tonight's window pairs; nothing else leaves this stage

1. Keys are public: every title of the night's catalogue (zeros included), times every country
   of the location reference for the by-country margin. Plays of other titles are left out.
2. Bounds per person: one country (where they played most), at most `max_titles_per_night`
   titles (the ones they played most), per title at most `max_plays_per_title` plays and
   `max_watch_hours_per_title` hours. Each vector's L2 sensitivity follows from them.
3. The plans (noise scale per vector) depend on the policy only, so the night's rho is known
   before the data are read; the ledger reserves it (or refuses the night) before any noise.
4. Multi-night measures read the pairs each night counted; the N nights must all be there.
5. Post-processing (no privacy cost): clamp at 0, seconds to hours, and, with
   `drop_below_error`, leave out values smaller than their own 95% error bound.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from transforms import storage
from transforms.backends import Backend, sql
from transforms.config.policy import GROUPING_COLUMN, Policy
from transforms.context import DATA_FILE, DP_STATE, Views
from transforms.errors import PrivacyError
from transforms.exports.dictionary import field_descriptions, fixed_levels
from transforms.ops.ledger import Ledger, open_ledger
from transforms.privacy import dp
from transforms.runtime import StageRun

log = logging.getLogger(__name__)

RELEASE_FILE = "release.json"
#: The published table's columns, in file order.
COLUMNS = ["title_id", "title_name", "location", GROUPING_COLUMN, "measure", "value", "error_95"]


def window_names(policy: Policy) -> tuple[str, str]:
    n = policy.dp.window_nights
    return f"viewers_last_{n}_nights", f"viewers_each_of_last_{n}_nights"


def vectors(policy: Policy, with_window: bool) -> list[dict]:
    """Every noisy vector of a night: grouping, measure, its weight name, unit and L2 sensitivity.
    Depends on the policy alone (never on the data)."""
    d = policy.dp
    title = policy.quasi_identifiers[0].column
    per_cell = {
        "distinct_people": 1,
        "count": d.max_plays_per_title,
        "sum_hours": round(d.max_watch_hours_per_title * 3600),
    }
    out = []
    for margin in policy.margin_list:
        grouping = ",".join(margin)
        for m in policy.measures:
            out.append(
                {
                    "grouping": grouping,
                    "measure": m.name,
                    "kind": m.kind,
                    "weight": d.weights.get(m.name, 1.0),
                    "sensitivity": dp.l2_sensitivity(d.max_titles_per_night, per_cell[m.kind]),
                }
            )
    if with_window:
        last, every = window_names(policy)
        out.append(
            {
                "grouping": title,
                "measure": last,
                "kind": "window_viewers",
                "weight": d.weights.get("window_viewers", 1.0),
                "sensitivity": dp.l2_sensitivity(d.max_titles_per_window, 1),
            }
        )
        out.append(
            {
                "grouping": title,
                "measure": every,
                "kind": "window_every_night",
                "weight": d.weights.get("window_every_night", 1.0),
                "sensitivity": dp.l2_sensitivity(d.max_titles_per_night, 1),
            }
        )
    return out


def write_private(path: Path, write, run_slug: str) -> None:
    """Write a private state file atomically, readable by the owner only (folders 0700). On an
    object store: written in a local temporary folder, then put whole (a PUT replaces an object
    whole; access is the bucket's policy)."""
    if storage.is_remote(path):
        with tempfile.TemporaryDirectory(prefix="dp-state-") as tmp:
            local = Path(tmp) / path.name
            write(local)
            storage.copyfile(local, path)
        return
    for folder in reversed([path.parent, *path.parent.parents][: len(path.parent.parts)]):
        if not folder.exists():
            folder.mkdir(mode=0o700)
    partial = path.with_name(f".{path.name}.{run_slug}")
    write(partial)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


#: Beside each DP export's ledger: the raw root it spends budget on.
SOURCE_FILE = "source.json"


def check_one_budget_per_source(layout, policy: Policy, raw_root: str) -> None:
    """Refuse a second DP export on data another DP export of this work root already spends
    budget on. Each export keeps its own ledger, so two of them (two policies, or one renamed)
    would each spend a full budget on the same people and draw fresh noise for the same night:
    the budget would be twice what both reports say, and readers could average the releases.
    Matched by the raw root as configured (the same data under another spelling is not caught:
    OPERATIONS.md)."""
    own = layout.dp_root(policy.export) / SOURCE_FILE
    root = layout.work_root
    if root is not None and root.exists():
        for other in sorted(p for p in root.iterdir() if p.name != policy.export):
            marker = other / DP_STATE / SOURCE_FILE
            if marker.exists() and json.loads(marker.read_text()).get("raw_root") == raw_root:
                raise PrivacyError(
                    f"{policy.export}: the DP export {other.name} already spends budget on {raw_root} from this work "
                    "root; a second export would spend a second, unrecorded budget on the same people. No noise was "
                    f"drawn. Publish these measures through {other.name}'s policy (one DP policy per data source)"
                )
    if not own.exists():
        own.parent.mkdir(parents=True, exist_ok=True)
        own.write_text(json.dumps({"raw_root": raw_root}) + "\n")


def check_ledger_knows_published(layout, policy: Policy, day: str, ledger: Ledger) -> None:
    """Refuse to draw if the out root holds DP releases this ledger does not know: the ledger was
    lost or another work root is in use, and drawing again would spend twice and let readers
    average two releases of the same night."""
    from transforms.reporting.manifest import read_manifest

    known = {e.get("digest") for e in ledger.entries() if e.get("kind") == "release"}
    published = read_manifest(layout.manifest(policy.export, day))
    digest = getattr(getattr(published, "release", None), "release_digest", None)
    unknown = digest is not None and digest not in known
    orphaned = not known and any(layout.export_dir(policy.export).glob("day=*/_manifest.json"))
    if unknown or orphaned:
        raise PrivacyError(
            f"{policy.export}: the out root holds DP releases that the ledger in {ledger.folder} does not record "
            f"({'this night' if unknown else 'earlier nights'}); the ledger was lost or another work root is in use. "
            "No noise was drawn. Restore the work root (its _dp folder) the releases were made with; never start "
            "a fresh ledger beside published releases"
        )


def budget_changes(ledger: Ledger, policy: Policy) -> str | None:
    """Earlier reservations made under another budget or window: said in the report (a raised
    budget is a policy decision the ledger records but cannot judge)."""
    b = policy.dp.budget
    other = sorted(
        {(e["budget"], e["window_nights"]) for e in ledger.entries() if e.get("kind") == "reserve"}
        - {(b.rho, b.window_nights)}
    )
    if not other:
        return None
    was = "; ".join(f"rho {r:g} per {w} nights" for r, w in other)
    now = f"rho {b.rho:g} per {b.window_nights} nights"
    return f"earlier nights were released under another budget ({was}); the policy now says {now}"


def key_id(s: StageRun) -> str:
    """The key the night's pseudonyms are under (the window pairs are kept per key)."""
    return str(s.stats["pseudonymize"]["key_id"])


def window_nights(s: StageRun) -> tuple[list[Path], str]:
    """The earlier nights' pair files the multi-night measures need, or why they cannot be made."""
    n = s.policy.dp.window_nights
    if n == 0:
        return [], "none (window_nights: 0)"
    day = s.ctx.day_date
    files = [
        s.ctx.layout.dp_window(s.policy.export, (day - timedelta(days=back)).isoformat(), key_id(s))
        for back in range(n - 1, 0, -1)
    ]
    missing = [f.name.removeprefix("day=")[:10] for f in files if not f.exists()]
    if missing:
        shown = ", ".join(missing[:3]) + ("…" if len(missing) > 3 else "")
        why = f"{len(missing)} of the {n - 1} earlier nights have no state under the active key"
        return [], f"not published: {why} ({shown})"
    return files, f"published over the {n} nights {(day - timedelta(days=n - 1)).isoformat()} to {day.isoformat()}"


def register_keys(b: Backend, s: StageRun, hierarchies: dict) -> tuple[pa.Table, list[str]]:
    """The public keys: the night's catalogue titles (with names) and the reference's countries."""
    policy = s.policy
    catalogue = storage.read_table(s.work.catalogue, columns=["title_id", "title_name"])
    titles = (
        catalogue.group_by("title_id").aggregate([("title_name", "min")]).rename_columns(["title_id", "title_name"])
    )
    titles = titles.sort_by("title_id")
    b.register_arrow("dp_titles", titles)
    countries: list[str] = []
    if len(policy.quasi_identifiers) > 1:
        qi = policy.quasi_identifiers[1]
        h = hierarchies[qi.column]
        countries = [c for c in h.domain(h.level_index(qi.level, qi.column)) or [] if c != "*"]
        b.register_arrow("dp_countries", pa.table({"location": countries}))
    return titles, countries


def run(s: StageRun) -> dict:
    s.needs("generalize")
    policy, b, d = s.policy, s.backend, s.policy.dp
    t0 = time.perf_counter()
    b.register_parquet(Views.GENERALIZED, s.work.generalized)
    for qi in policy.qi_columns:
        b.register_parquet(Views.lookup(qi), s.work.lookup(qi))
    hierarchies = policy.hierarchies()
    titles, countries = register_keys(b, s, hierarchies)
    title_qi = policy.quasi_identifiers[0]
    country_qi = policy.quasi_identifiers[1] if len(policy.quasi_identifiers) > 1 else title_qi
    seconds_column = next((m.column for m in policy.measures if m.kind == "sum_hours"), None) or "watch_seconds"
    bounds = {"max_plays": d.max_plays_per_title, "max_seconds": round(d.max_watch_hours_per_title * 3600)}
    b.run(
        sql(
            "dp_person_titles",
            bounds,
            source=Views.GENERALIZED,
            person=policy.pseudonym.column,
            title=title_qi.column,
            title_level=hierarchies[title_qi.column].level_index(title_qi.level, title_qi.column),
            country=country_qi.column,
            country_level=hierarchies[country_qi.column].level_index(country_qi.level, country_qi.column),
            seconds=seconds_column,
        )
    )
    counts = b.fetch(
        sql(
            "dp_counts",
            {"max_titles": d.max_titles_per_night},
            source=Views.GENERALIZED,
            person=policy.pseudonym.column,
        )
    ).to_pylist()[0]
    layout, day = s.ctx.layout, s.ctx.day
    earlier, window_status = window_nights(s)
    wanted = vectors(policy, bool(earlier))
    shares = dp.split(d.rho_per_night, {f"{v['grouping']}:{v['measure']}": v["weight"] for v in wanted})
    plans, total = dp.plan_night(
        d.rho_per_night,
        {
            f"{v['grouping']}:{v['measure']}": (shares[f"{v['grouping']}:{v['measure']}"], v["sensitivity"])
            for v in wanted
        },
    )
    ledger = open_ledger(layout.dp_root(policy.export), wait=60.0)
    check_one_budget_per_source(layout, policy, s.ctx.raw_root)
    check_ledger_knows_published(layout, policy, day, ledger)
    budget_note = budget_changes(ledger, policy)
    summary_measures = {name: p.to_dict() for name, p in plans.items()}
    with ledger.night(
        day, total, s.ctx.run_id, policy.digest, d.budget.rho, d.budget.window_nights, summary_measures
    ) as slot:
        reused = slot.stored is not None
        if not reused:
            # Tonight's counted pairs, for later nights' multi-night measures: written under the
            # ledger's lock with the release they belong to (never on a refused night, never
            # rewritten by a rerun that returns the stored release).
            write_private(
                layout.dp_window(policy.export, day, key_id(s)),
                lambda path: b.write_parquet(sql("dp_window_pairs", {"max_titles": d.max_titles_per_night}), path),
                s.ctx.run_slug,
            )
            _draw(s, b, policy, titles, countries, wanted, plans, earlier, window_status, slot.staging)
    release_dir = slot.stored
    info = json.loads((release_dir / RELEASE_FILE).read_text())
    remaining = ledger.available(day, d.budget.rho, d.budget.window_nights)
    plays_in = int(counts["plays_in"])
    in_catalogue = int(counts["plays_in_catalogue"])
    counted = int(counts["plays_counted"])
    accounting = {
        "day": day,
        "run_id": s.ctx.run_id,
        "input_rows": s.stats["pull"]["input_rows"],
        "rejected_rows": s.stats["pull"]["rejected_rows"],
        "rejected_by_reason": s.stats["pull"]["rejected_by_reason"],
        "minor_rows": s.stats["pull"].get("minor_rows", 0),
        "minor_people": s.stats["pull"].get("minor_people", 0),
        "plays_in": plays_in,
        "plays_not_in_catalogue": plays_in - in_catalogue,
        "plays_over_bounds": in_catalogue - counted,
        "plays_counted": counted,
        "people_in": int(counts["people_in"]),
        "people_counted": int(counts["people_counted"]),
    }
    accounting_file = layout.dp_root(policy.export) / "accounting" / f"day={day}.json"
    text = json.dumps(accounting, indent=1, sort_keys=True) + "\n"
    write_private(accounting_file, lambda path: path.write_text(text), s.ctx.run_slug)
    summary = {
        "accounting_file": str(accounting_file),
        "release_dir": str(release_dir),
        "catalogue_file": str(s.work.catalogue),
        "budget_note": budget_note,
        # The policy the stored release was drawn under (a rerun after a policy change returns it as is).
        "release_policy_digest": slot.reservation.get("policy_digest", policy.digest),
        "release": info,
        "reused": reused,
        "spent_now": slot.spent_now,
        "rho_night": slot.rho,
        "window_remaining": remaining,
        "window_spent": d.budget.rho - remaining,
        "accounting": accounting,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    log.info(
        "anonymize (dp): %s release of %s, rho %.4g (spent now %.4g; %.4g left in the tightest %d-night window), "
        "%d values published",
        "stored" if reused else "new",
        day,
        slot.rho,
        slot.spent_now,
        remaining,
        d.budget.window_nights,
        sum(m["published"] for m in info["measures"]),
    )
    return summary


def _draw(s, b, policy, titles, countries, wanted, plans, earlier, window_status, staging: Path) -> None:
    """Exact vectors, noise, post-processing; the table and release.json into `staging`."""
    d = policy.dp
    title_col = policy.quasi_identifiers[0].column
    names = dict(zip(titles.column("title_id").to_pylist(), titles.column("title_name").to_pylist(), strict=True))
    exact: dict[str, dict] = {}
    for margin in policy.margin_list:
        grouping = ",".join(margin)
        t = b.fetch(sql("dp_vectors", {"max_titles": d.max_titles_per_night}, by_country=len(margin) > 1))
        exact[grouping] = {c: t.column(c).to_numpy() for c in ("viewers", "plays", "seconds")}
        exact[grouping]["title_id"] = t.column("title_id").to_pylist()
        exact[grouping]["location"] = t.column("location").to_pylist()
    if earlier:
        pairs = [str(f) for f in earlier] + [str(s.ctx.layout.dp_window(policy.export, s.ctx.day, key_id(s)))]
        w = b.fetch(
            sql(
                "dp_window",
                {"files": pairs, "max_window": d.max_titles_per_window, "nights": d.window_nights},
            )
        )
        last, every = window_names(policy)
        exact[title_col][last] = w.column("window_viewers").to_numpy()
        exact[title_col][every] = w.column("window_every_night").to_numpy()
    column_of = {"distinct_people": "viewers", "count": "plays", "sum_hours": "seconds"}
    rows: dict[str, list] = {c: [] for c in COLUMNS}
    measures_info = []
    noisy: dict[tuple[str, str], np.ndarray] = {}
    for v in wanted:
        key = f"{v['grouping']}:{v['measure']}"
        plan = plans[key]
        source = exact[v["grouping"]][column_of.get(v["kind"], v["measure"])]
        noisy[(v["grouping"], v["measure"])] = np.maximum(
            dp.release(source.astype(np.int64), plan.scale, plan.sensitivity, plan.rho), 0
        )
    viewers_measure = next(m.name for m in policy.measures if m.kind == "distinct_people")
    for v in wanted:
        g, name = v["grouping"], v["measure"]
        plan = plans[f"{g}:{name}"]
        unit = 3600.0 if v["kind"] == "sum_hours" else 1.0
        error = dp.accuracy95(plan.scale) / unit
        values = noisy[(g, name)] / unit
        if not d.drop_below_error:
            keep = np.ones(len(values), dtype=bool)
        elif v["kind"] in ("window_viewers", "window_every_night"):
            keep = values >= error
        else:  # a title (or title and country) stays if its noisy viewers clear their own bound
            viewers_error = dp.accuracy95(plans[f"{g}:{viewers_measure}"].scale)
            keep = noisy[(g, viewers_measure)] >= viewers_error
        ids, locations = exact[g]["title_id"], exact[g]["location"]
        for i in np.flatnonzero(keep):
            rows["title_id"].append(ids[i])
            rows["title_name"].append(names.get(ids[i]))
            rows["location"].append(locations[i])
            rows[GROUPING_COLUMN].append(g)
            rows["measure"].append(name)
            rows["value"].append(round(float(values[i]), 4) if unit != 1.0 else float(values[i]))
            rows["error_95"].append(round(error, 4))
        measures_info.append(
            {
                "grouping": g,
                "measure": name,
                "cells": len(values),
                "published": int(keep.sum()),
                "rho": plan.rho,
                "sensitivity": plan.sensitivity / (unit if unit != 1.0 else 1.0),
                "scale": plan.scale / unit,
                "error_95": round(error, 6),
            }
        )
    order = sorted(
        range(len(rows["title_id"])),
        key=lambda i: (rows[GROUPING_COLUMN][i], rows["title_id"][i], rows["location"][i], rows["measure"][i]),
    )
    table = pa.table(
        {
            c: pa.array([rows[c][i] for i in order], type=pa.float64() if c in ("value", "error_95") else pa.string())
            for c in COLUMNS
        }
    )
    described = field_descriptions(policy, fixed_levels(policy))
    table = table.cast(
        pa.schema(
            [f.with_metadata({"description": described[f.name]}) if f.name in described else f for f in table.schema]
        )
    )
    pq.write_table(table, staging / DATA_FILE, compression="zstd")
    (staging / RELEASE_FILE).write_text(
        json.dumps(
            {
                "day": s.ctx.day,
                "rho": sum(p.rho for p in plans.values()),
                "bounds": {
                    "max_titles_per_night": d.max_titles_per_night,
                    "max_plays_per_title": d.max_plays_per_title,
                    "max_watch_hours_per_title": d.max_watch_hours_per_title,
                    "max_titles_per_window": d.max_titles_per_window,
                },
                "countries": len(countries),
                "titles": titles.num_rows,
                "window": window_status,
                "measures": measures_info,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )


def purge_state(layout, policy: Policy, today: date) -> int:
    """Window pairs past the window go. The ledger, stored releases and accounting stay (small;
    the ledger is the budget, and a rerun of any released night must find its release)."""
    gone = 0
    root = layout.dp_root(policy.export)
    keep_pairs = max(policy.dp.window_nights, 1)
    for f in storage.files_under(root / "window"):
        # A run that crashed before its rename leaves `.day=...parquet.<run>`: the same pairs.
        name = f.name.removeprefix(".")
        if not (name.startswith("day=") and ".parquet" in name):
            continue
        try:
            night = date.fromisoformat(name.removeprefix("day=")[:10])
        except ValueError:
            continue
        if (today - night).days >= keep_pairs:
            storage.remove(f)
            gone += 1
    return gone

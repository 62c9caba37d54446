"""Private state of published viewing histories: one folder per published night.

    <work-root>/<export>/_history/day=YYYY-MM-DD/items.parquet   (pseudonym, link token, day, item)
    <work-root>/<export>/_history/day=YYYY-MM-DD/meta.json       epoch, digests, nights checked against
    <work-root>/<export>/_history/day=YYYY-MM-DD/finest.parquet  (pseudonym, link token, person attributes,
                                                                 title) at the finest levels: the baseline
                                                                 of the linking attack, never published

An item is what the extract published about a person and one of their plays, minus the watch
time: the person attributes and the play attributes the history policy names. The state is
pseudonymized (no raw identifier; the link token is a keyed hash that never leaves the private
zone) and lives beside the work folders, never beside the extract.

Uses:
- With a pseudonym epoch longer than a day, tonight's plays are protected together with what
  the epoch's other nights published for the same pseudonyms (fixed items, never changed).
- Every night, the report measures how many people an attacker could link from the previous
  night by their attributes and titles (the link token says who is who, privately).

Crash safety: a night's state is written before its partition is swapped into place, and it
counts only while its `extract_sha256` equals the published manifest's: a crash in between
leaves a state that is ignored, and the next run of the night replaces it. The state it
replaced is kept aside (`.previous-day=...`) until the partition swaps, and counts while the
partition it describes is still the published one: so a rerun that dies between the two swaps
leaves the epoch's later nights protected against what is really published.

Concurrency: nights of one epoch publish one at a time (an epoch lock), and a night's publish
checks that the epoch's published nights are still the ones anonymize protected it against.

Reruns and backfills: a night first run against the epoch's nights published so far records
that set; a rerun uses the same set (refusing if one of them changed), so the same inputs give
the same bytes. A rerun that would change what a night published is refused when another
night of the epoch was protected against it: that would silently weaken its guarantee.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from transforms import storage
from transforms.backends import Backend, Query, sql
from transforms.config.policy import Policy
from transforms.context import DAY_PREFIX, HISTORY_PREVIOUS_PREFIX, HISTORY_STAGING_PREFIX, Layout, Views
from transforms.errors import PrivacyError
from transforms.ops.exchange import recover, swap_into_place
from transforms.ops.keys import epoch_label
from transforms.ops.locks import day_lock
from transforms.reporting.manifest import read_manifest, sha256_file

log = logging.getLogger(__name__)

ITEMS = "items.parquet"
FINEST = "finest.parquet"  # the night at its finest allowed levels: the linking attack's baseline
FINEST_VIEW = "finest_tonight"
META = "meta.json"


def root(layout: Layout, export: str) -> Path:
    return layout.history_root(export)


def night_dir(layout: Layout, export: str, day: str) -> Path:
    return root(layout, export) / f"{DAY_PREFIX}{day}"


@dataclass(frozen=True)
class Night:
    day: str
    epoch: str
    items: Path
    items_sha256: str
    history: list[dict]  # [{"day", "items_sha256"}] the nights it was protected against


def read_night(layout: Layout, export: str, day: str) -> Night | None:
    """A published night's state, if present and consistent with its published manifest: the
    live one, or the one it replaced while the partition swap it waits for has not happened."""
    manifest = read_manifest(layout.manifest(export, day))
    published = sorted(f.sha256 for f in manifest.files) if manifest else None
    for folder in (night_dir(layout, export, day), layout.history_previous(export, day)):
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if published is not None and published == meta.get("extract_sha256"):
            return Night(day, meta["epoch"], folder / ITEMS, meta["items_sha256"], meta.get("history", []))
    return None  # written before a swap that did not happen: not what was published


def epoch_nights(layout: Layout, export: str, epoch: str, exclude: str) -> list[Night]:
    """Valid states of the epoch's other published nights."""
    out = []
    base = root(layout, export)
    for folder in sorted(base.glob(f"{DAY_PREFIX}*")) if base.exists() else []:
        day = folder.name.removeprefix(DAY_PREFIX)
        if day == exclude:
            continue
        night = read_night(layout, export, day)
        if night is not None and night.epoch == epoch:
            out.append(night)
    return out


def history_set(layout: Layout, policy: Policy, day: date) -> list[Night]:
    """The nights tonight is protected against (see the module docstring)."""
    if policy.pseudonym.epoch == "day":
        return []
    export, tonight = policy.export, day.isoformat()
    epoch = epoch_label(policy.pseudonym.epoch, day)
    mine = read_night(layout, export, tonight)
    if mine is None:
        return epoch_nights(layout, export, epoch, tonight)
    nights = []
    for ref in mine.history:
        night = read_night(layout, export, ref["day"])
        if night is None or night.items_sha256 != ref["items_sha256"]:
            raise PrivacyError(
                f"{tonight} was protected against {ref['day']}, whose published plays have changed or are gone; "
                f"rerun the nights of epoch {epoch} in day order from {ref['day']} (see docs/OPERATIONS.md)"
            )
        nights.append(night)
    return nights


def confirm_set(layout: Layout, policy: Policy, day: date, protected: dict) -> list[Night]:
    """The nights anonymize protected tonight against (`protected_against` in its summary),
    read again at publish under the epoch lock. Refuses if one of them changed since, or if
    another night of the epoch was published meanwhile without being protected against
    tonight: publishing both would leave their union unchecked."""
    if policy.pseudonym.epoch == "day":
        return []
    export, tonight = policy.export, day.isoformat()
    # Where the filesystem cannot exchange, a crash between a swap's two renames leaves a night's
    # partition or state aside (invisible); under the epoch lock no swap is half done, so put
    # them back first: such a night must count here.
    recover(layout.export_dir(export))
    recover(root(layout, export))
    epoch = epoch_label(policy.pseudonym.epoch, day)
    refs = protected.get("protected_against", [])
    nights = []
    for ref in refs:
        night = read_night(layout, export, ref["day"])
        if night is None or night.items_sha256 != ref["items_sha256"]:
            raise PrivacyError(
                f"{ref['day']}, which {tonight} was protected against, changed while this run was running; "
                f"rerun {tonight} (see docs/OPERATIONS.md, 'Epochs')"
            )
        nights.append(night)
    known = {ref["day"] for ref in refs}
    for night in epoch_nights(layout, export, epoch, tonight):
        if night.day not in known and not any(ref["day"] == tonight for ref in night.history):
            raise PrivacyError(
                f"{night.day} (epoch {epoch}) was published while this run protected {tonight} without it; "
                f"rerun {tonight}: it will then be protected against {night.day} (see docs/OPERATIONS.md, 'Epochs')"
            )
    return nights


@contextmanager
def epoch_lock(layout: Layout, policy: Policy, day: date) -> Iterator[None]:
    """One publish at a time per export and pseudonym epoch (epochs longer than a day)."""
    if policy.pseudonym.epoch == "day":
        yield
        return
    label = epoch_label(policy.pseudonym.epoch, day)
    with day_lock(layout.lock_file(policy.export, f"epoch-{label}"), policy.export, f"epoch {label}"):
        yield


def past_items(b: Backend, policy: Policy, nights: list[Night]) -> pd.DataFrame | None:
    """Earlier nights' items of tonight's pseudonyms: (pid, item) with items as label tuples."""
    if not nights:
        return None
    h = policy.privacy.history
    b.register_parquet("past_items", [n.items for n in nights])
    table = b.fetch(sql("history_past", columns=[*h.person, *h.play], person=policy.pseudonym.column))
    return table.to_pandas()


def encode_past(frame: pd.DataFrame | None, policy: Policy) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(pid, item code, number of past items) for the engine; items are (day, labels...)."""
    if frame is None or frame.empty:
        return None
    h = policy.privacy.history
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(frame[["day", *h.person, *h.play]]))
    return frame["pid"].to_numpy().astype(np.int64), codes.astype(np.int64), len(uniques)


def write_state(
    b: Backend,
    layout: Layout,
    policy: Policy,
    day: date,
    files: list[Path],
    persons: Path,
    nights: list[Night],
    run: str,
    finest: Path | None = None,
) -> Path:
    """Write tonight's state beside the others, ready before the swap; refuse a change others depend on."""
    h = policy.privacy.history
    export, tonight = policy.export, day.isoformat()
    staging = layout.history_staging(export, run)
    storage.rmtree(staging)
    staging.mkdir(parents=True)
    b.register_parquet(Views.EXTRACT, files)
    b.register_parquet(Views.PERSONS, persons)
    b.write_parquet(
        sql("history_items", {"day": tonight}, columns=[*h.person, *h.play], person=policy.pseudonym.column),
        staging / ITEMS,
    )
    if finest is not None and finest.exists():
        storage.copyfile(finest, staging / FINEST)
    items_sha = sha256_file(staging / ITEMS)
    previous = read_night(layout, export, tonight)
    if previous is not None and previous.items_sha256 != items_sha:
        dependants = [
            n.day
            for n in epoch_nights(layout, export, previous.epoch, tonight)
            if any(ref["day"] == tonight for ref in n.history)
        ]
        if dependants:
            storage.rmtree(staging)
            raise PrivacyError(
                f"rerunning {tonight} would change what it published, but {dependants} were protected against it; "
                f"rerun epoch {previous.epoch} in day order from {tonight} (see docs/OPERATIONS.md, 'Epochs')"
            )
    meta = {
        "day": tonight,
        "epoch": epoch_label(policy.pseudonym.epoch, day),
        "items_sha256": items_sha,
        "extract_sha256": sorted(sha256_file(f) for f in files),
        "history": [{"day": n.day, "items_sha256": n.items_sha256} for n in nights],
    }
    (staging / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return staging


def commit_state(layout: Layout, export: str, day: str, staging: Path) -> None:
    """Tonight's state goes live; the state that describes the published partition, if any,
    is kept aside first (copied whole, then renamed) until `drop_previous`."""
    live = read_night(layout, export, day)
    previous = layout.history_previous(export, day)
    if live is not None and live.items.parent != previous:
        if storage.is_remote(previous):  # no rename on a store: copied in place, its meta.json last
            storage.rmtree(previous)
            storage.copytree(live.items.parent, previous, last=META)
        else:
            copy = previous.with_name(previous.name + ".copy")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(live.items.parent, copy)
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(copy, previous)
    swap_into_place(staging, night_dir(layout, export, day), crash="history.after_exchange", commit=META)


def drop_previous(layout: Layout, export: str, day: str) -> None:
    """After the partition swap: the replaced state no longer describes anything published."""
    storage.rmtree(layout.history_previous(export, day))


def finest_attributes(policy: Policy) -> list[dict]:
    """The history's person attributes and title, each at the finest level the policy allows."""
    h, lowest = policy.privacy.history, policy.lowest_levels()
    return [{"column": c, "level": lowest[c]} for c in (*h.person, h.title)]


def write_finest(b: Backend, policy: Policy, path: Path) -> None:
    """Tonight at its finest allowed levels (needs `generalized`, the lookups and `persons`),
    as a file for tonight's state, readable as the view `finest_tonight` (computed once: the
    linking measure reads it only when there is a previous night)."""
    b.write_parquet(sql("history_finest", attributes=finest_attributes(policy), person=policy.pseudonym.column), path)
    b.register_parquet(FINEST_VIEW, path)


def linkage(
    b: Backend, policy: Policy, layout: Layout, day: date, published: Query | None = None, sample: int = 5_000
) -> dict | None:
    """How many people an attacker links from the previous night to tonight by attributes and titles.

    The attacker takes a person's previous-night published profile (person attributes and the
    set of titles) and picks tonight's pseudonym with the same attributes whose titles overlap
    most (Jaccard); a unique best match that is the same person (same link token) is a link.
    Measured on up to `sample` people present both nights (chosen by link token): on what was
    published (`linked_share`) and, where the previous night's state has it, on both nights at
    their finest allowed levels, as if neither were protected (`linked_share_before`; needs
    the view `finest_tonight`, see `write_finest`). `published`: the query of tonight's
    published rows, materialized as `published` only when there is a previous night (None when
    `published` is already there)."""
    previous = read_night(layout, policy.export, (day - timedelta(days=1)).isoformat())
    if previous is None:
        return None
    if published is not None:  # tonight's published rows, made only when there is a night to link
        b.materialize("published", published)
    h = policy.privacy.history

    def attack(previous_items: Path, tonight: str) -> tuple[int, int, int]:
        b.register_parquet("previous_items", previous_items)
        row = b.fetch(
            sql(
                "history_linkage",
                {"sample": sample},
                person_attributes=h.person,
                title=h.title,
                person=policy.pseudonym.column,
                tonight=tonight,
            )
        ).to_pylist()[0]
        return int(row["people_in_both"] or 0), int(row["tried"] or 0), int(row["linked"] or 0)

    both, tried, linked = attack(previous.items, "published")
    out = {
        "previous_night": previous.day,
        "people_in_both_nights": both,
        "people_tried": tried,
        "linked": linked,
        "linked_share": round(linked / tried, 6) if tried else 0.0,
    }
    baseline = previous.items.parent / FINEST
    if baseline.exists():
        _, tried_before, linked_before = attack(baseline, FINEST_VIEW)
        out["people_tried_before"] = tried_before
        out["linked_before"] = linked_before
        out["linked_share_before"] = round(linked_before / tried_before, 6) if tried_before else 0.0
    return out


def purge_states(layout: Layout, policy: Policy, today: date) -> list[str]:
    """Remove nights' states once their epoch ended more than `state_retention_days` ago."""
    h = policy.privacy.history
    base = root(layout, policy.export)
    if h is None or not base.exists():
        return []
    removed = []
    # Published nights' states, and states a rerun replaced (with any half-made copy a crash left).
    for prefix in (DAY_PREFIX, f"{HISTORY_PREVIOUS_PREFIX}{DAY_PREFIX}"):
        for folder in sorted(base.glob(f"{prefix}*")):
            try:
                day = date.fromisoformat(folder.name.removeprefix(prefix).removesuffix(".copy"))
            except ValueError:
                continue
            if epoch_end(policy.pseudonym.epoch, day) + timedelta(days=h.state_retention_days) < today:
                storage.rmtree(folder)
                removed.append(str(folder))
    for leftover in base.glob(f"{HISTORY_STAGING_PREFIX}*"):
        storage.rmtree(leftover)
    return removed


def epoch_end(epoch: str, day: date) -> date:
    """The last day of the pseudonym epoch `day` falls in."""
    if epoch == "week":
        return day + timedelta(days=6 - day.weekday())
    if epoch == "month":
        following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return following - timedelta(days=1)
    return day


def items_table(path: Path) -> pd.DataFrame:
    return storage.read_table(path).to_pandas()

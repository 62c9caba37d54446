"""The privacy-budget ledger of one export's differentially private releases (private zone).

Every DP release spends privacy budget (zCDP rho). The ledger records each night's spend before
any noise is drawn, keeps the stored release of each night, and refuses a night that would take
a rolling window of W nights over its budget. It knows nothing of DP mechanisms: the caller
gives the rho, the budget and the window (from the policy) and writes the release files.

Folder (given by the caller, e.g. `<work-root>/<export>/_dp/`):

    ledger.jsonl                          append-only, one JSON object per line (below)
    releases/day=YYYY-MM-DD/              a night's stored release: the caller's files, plus
    releases/day=YYYY-MM-DD/_release.json   the digests of those files, written by the ledger
    releases/.staging-<day>-<run>/        a release being written; removed by the next run
    .lock                                 flock: one release at a time per export

On an object store (`s3://...`) the same protocol runs on a store's primitives: `StoreLedger`
at the end of this module (`open_ledger` picks the one the folder needs).

Entries (keys sorted, compact, ASCII, one line each, `"v": 1`):

    {"kind": "reserve", "day", "run_id", "rho", "measures", "policy_digest", "budget",
     "window_nights", "at"}              written (and fsynced) BEFORE the caller draws noise
    {"kind": "release", "day", "run_id", "digest", "files": {path: sha256}, "adopted", "at"}
                                          written after the release folder is in place

A night's spend is the sum of its `reserve` entries (one, or more if a rerun after a crash
needed more rho than first reserved). Amounts are added and compared exactly, as the decimal
numbers the ledger shows (0.4 + 0.4 + 0.2 fills a budget of 1.0, no float rounding either way).

A line counts once it ends with a newline: a crash in the middle of an append leaves a torn
last line, which readers ignore (with a warning) and the next writer cuts off before appending;
complete lines are never rewritten. An unreadable complete line means the ledger is damaged:
every operation then fails (PrivacyError), since an unknown spend cannot be checked against a
budget.

Protocol (`Ledger.night`, under the exclusive lock, held until the release is stored):

    a) the night has a stored release matching its `release` entry: hand it back; spend nothing
       (a rerun never draws fresh noise for a released night: that would allow averaging);
    b) the night has a reservation but no stored release (a crash after reserving): reuse it
       (topped up, after the budget check, if this run needs more rho) and let the caller draw;
    c) otherwise check every rolling window of W nights that contains the night (a backfill
       spends from its own windows, which may include later nights); refuse with PrivacyError if
       one would exceed the budget, else append `reserve`. Then the caller draws and writes.

Crash analysis (named points in transforms.ops.faults):

    before `reserve` is durable       nothing spent, nothing drawn; a rerun starts afresh
    dp.after_reserve                  spend recorded, no noise drawn; a rerun resumes (b)
    while the caller draws / writes   spend kept, staging left; a rerun removes the staging and
                                      resumes (b): the noise drawn was never stored or published
    dp.after_staging                  staging complete with its digests, not in place: as above
    dp.after_store                    release in place, no `release` entry: a rerun verifies the
                                      files against `_release.json` and adopts them (appends the
                                      entry, `adopted: true`); it never draws again. If they do
                                      not verify, it refuses (PrivacyError): an operator decides.
    after the `release` entry          done; a rerun returns the stored files (a)

So the spend is never lost (it is durable before any noise exists), a night never has two
different stored releases, and the caller publishes only from `slot.stored`, after the ledger
has committed it.

A second process wanting the lock while it is held gets RunInProgressError (retryable), at once
or after `wait` seconds: the release phase is short, and failing fast keeps a stuck run visible
instead of piling up waiters (Airflow retries).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from transforms import storage
from transforms.context import DAY_PREFIX
from transforms.errors import PrivacyError, PublishError, RunInProgressError
from transforms.ops.faults import crash_point

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.jsonl"
RELEASES = "releases"
RELEASE_DIGESTS = "_release.json"
STAGING_PREFIX = ".staging-"
LOCK_FILE = ".lock"
VERSION = 1

RESERVE = "reserve"
RELEASE = "release"
_REQUIRED = {
    RESERVE: {"v", "kind", "day", "run_id", "rho", "measures", "policy_digest", "budget", "window_nights", "at"},
    RELEASE: {"v", "kind", "day", "run_id", "digest", "files", "adopted", "at"},
}


def _day(day: str | date) -> str:
    return (day if isinstance(day, date) else date.fromisoformat(str(day))).isoformat()


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir(path: Path) -> None:
    """Create `path` (private: 0700) and its missing parents, each made durable in its parent."""
    if path.is_dir():
        return
    _mkdir(path.parent)
    path.mkdir(mode=0o700, exist_ok=True)
    _fsync(path.parent)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (relative POSIX path -> hex), `_release.json` excluded."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise PrivacyError(f"the release folder {folder} holds a symbolic link ({rel}); write plain files only")
        if path.is_file() and rel != RELEASE_DIGESTS:
            out[rel] = _sha256(path)
    return out


def release_digest(files: Mapping[str, str]) -> str:
    """One sha256 over a release's file digests (as `sha256sum` lines, sorted by path)."""
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def _exact(value: float) -> Fraction:
    """The decimal number a float stands for in the ledger: its shortest repr, as JSON writes it.

    Amounts are added and compared exactly as these decimals, so nights of rho 0.4, 0.4 and 0.2
    fill a budget of 1.0 exactly (binary floats would make it 1.0000000000000000555). A float
    and its repr differ by less than half a unit in the 17th digit."""
    return Fraction(repr(float(value)))


def _up(value: Fraction) -> float:
    """The smallest float whose decimal is >= value (spend is recorded and shown rounded up)."""
    out = float(value)
    while _exact(out) < value:
        out = math.nextafter(out, math.inf)
    return out


def _down(value: Fraction) -> float:
    """The largest float whose decimal is <= value (remaining budget is shown rounded down)."""
    out = float(value)
    while _exact(out) > value:
        out = math.nextafter(out, -math.inf)
    return out


def window_spend(spend: Mapping[str, Fraction], start: date, window: int) -> Fraction:
    """Exact sum of the rho spent by nights start .. start + window - 1."""
    end = start + timedelta(days=window - 1)
    return sum((r for d, r in spend.items() if start <= date.fromisoformat(d) <= end), Fraction(0))


@dataclass
class Slot:
    """One night's place in the ledger, handed out by `Ledger.night`."""

    day: str
    run_id: str
    rho: float  # the night's total reserved spend (all its reserve entries)
    spent_now: float  # rho appended by this call: 0 for a rerun or a resumed reservation
    stored: Path | None  # the stored release: set if it existed (rerun) or once committed
    staging: Path | None  # where the caller writes a new release (None when `stored` was set)
    reservation: dict  # the night's first reserve entry (policy digest, measures, ...)


class Ledger:
    """The budget ledger and stored releases in `folder` (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike, *, wait: float = 0.0) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LEDGER_FILE
        self.releases = self.folder / RELEASES
        self.wait = float(wait)

    # ----------------------------------------------------------------- reading

    def _load(self) -> tuple[list[dict], int]:
        """Committed entries and the byte length they take (a torn tail after it is ignored)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning(
                "budget ledger %s: ignoring a torn last line (%d bytes): an append was interrupted",
                self.path,
                len(data) - end,
            )
        entries = []
        for number, line in enumerate(data[:end].splitlines(), start=1):
            entries.append(self._parse(line, number))
        return entries, end

    def _parse(self, line: bytes, number: int) -> dict:
        try:
            entry = json.loads(line)
            kind = entry["kind"]
            if entry["v"] != VERSION or not _REQUIRED[kind] <= entry.keys():
                raise ValueError("unknown version or missing fields")
            entry["day"] = _day(entry["day"])
            if kind == RESERVE:
                _positive("rho", entry["rho"])
            elif len(entry["digest"]) != 64 or not isinstance(entry["files"], dict):
                raise ValueError("bad digest or file list")
        except (ValueError, KeyError, TypeError) as exc:
            raise PrivacyError(
                f"budget ledger {self.path} line {number} is unreadable ({type(exc).__name__}); the privacy spend "
                "cannot be known, so no DP release is made: restore ledger.jsonl from backup, or repair that line "
                "by hand after a review (never delete spend)"
            ) from None
        return entry

    def entries(self) -> list[dict]:
        """Every committed entry, in order."""
        return self._load()[0]

    @staticmethod
    def _spend(entries: list[dict]) -> dict[str, Fraction]:
        spend: dict[str, Fraction] = {}
        for e in entries:
            if e["kind"] == RESERVE:
                spend[e["day"]] = spend.get(e["day"], Fraction(0)) + _exact(e["rho"])
        return dict(sorted(spend.items()))

    def spend(self) -> dict[str, float]:
        """Reserved rho per night (ISO day -> rho), the nights with spend only."""
        return {day: _up(rho) for day, rho in self._spend(self.entries()).items()}

    def _folder_of(self, day: str) -> Path:
        return self.releases / f"{DAY_PREFIX}{day}"

    def stored_release(self, day: str | date) -> Path | None:
        """The night's stored release folder if committed (a `release` entry matches its files).

        Raises PrivacyError if the files differ from their entry (altered after release)."""
        day = _day(day)
        entries = self.entries()
        return self._verified(day, entries)

    def _verified(self, day: str, entries: list[dict]) -> Path | None:
        releases = [e for e in entries if e["kind"] == RELEASE and e["day"] == day]
        folder = self._folder_of(day)
        if not releases or not self._in_place(day):
            return None
        entry = releases[-1]
        if self._digests(folder) != entry["files"] or release_digest(entry["files"]) != entry["digest"]:
            raise PrivacyError(
                f"the stored DP release of {day} ({folder}) no longer matches its ledger entry; it must not be "
                "published nor drawn again: restore the files from backup (digest "
                f"{entry['digest'][:12]}…), do not delete the night"
            )
        return folder

    # ----------------------------------------------------------------- budget

    def available(self, day: str | date, budget: float, window: int) -> float:
        """The most rho a release of `day` could still spend: the least remaining budget over
        every window of `window` nights containing `day` (rounded down; may be <= 0)."""
        return _down(self._headroom(self._spend(self.entries()), date.fromisoformat(_day(day)), budget, window)[0])

    @staticmethod
    def _headroom(
        spend: Mapping[str, Fraction], day: date, budget: float, window: int
    ) -> tuple[Fraction, date, Fraction]:
        """(least remaining, start of that window, its spend) over the windows containing `day`."""
        budget = _exact(_positive("budget", budget))
        if window < 1:
            raise ValueError(f"window must be at least 1 night, got {window}")
        worst: tuple[Fraction, date, Fraction] | None = None
        for offset in range(window - 1, -1, -1):  # windows starting day - (W-1) .. day
            start = day - timedelta(days=offset)
            spent = window_spend(spend, start, window)
            if worst is None or budget - spent < worst[0]:
                worst = (budget - spent, start, spent)
        assert worst is not None
        return worst

    def summary(self, budget: float, window: int, today: str | date) -> list[dict]:
        """The rolling windows ending on each night with spend, and the one ending `today`:
        [{window_start, window_end, nights (with spend), spent, remaining}], oldest first.
        A window ending on a night covers it and the W - 1 nights before; what a release of a
        given night may still spend is `available(day)` (it also counts later windows)."""
        budget_exact = _exact(_positive("budget", budget))
        if window < 1:
            raise ValueError(f"window must be at least 1 night, got {window}")
        spend = self._spend(self.entries())
        ends = sorted({date.fromisoformat(d) for d in spend} | {date.fromisoformat(_day(today))})
        rows = []
        for end in ends:
            start = end - timedelta(days=window - 1)
            spent = window_spend(spend, start, window)
            nights = sum(1 for d in spend if start <= date.fromisoformat(d) <= end)
            rows.append(
                {
                    "window_start": start.isoformat(),
                    "window_end": end.isoformat(),
                    "nights": nights,
                    "spent": _up(spent),
                    "remaining": _down(budget_exact - spent),
                }
            )
        return rows

    # ----------------------------------------------------------------- writing

    @contextmanager
    def _locked(self) -> Iterator[None]:
        _mkdir(self.folder)
        lock = self.folder / LOCK_FILE
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                        raise RunInProgressError(
                            f"another DP release of this export is in progress (ledger lock {lock}, pid {holder}); "
                            "wait for it to finish, then run again"
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _cut_torn_tail(self, length: int) -> None:
        """Under the lock: drop an interrupted append's bytes so the next line starts clean."""
        if self.path.exists() and self.path.stat().st_size > length:
            os.truncate(self.path, length)
            _fsync(self.path)

    def _append(self, entry: dict) -> dict:
        entry = {"v": VERSION, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **entry}
        line = (json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync(self.folder)
        return entry

    def _new_staging(self, day: str, run_id: str) -> Path:
        """A private folder for the caller to write a new release into (beside the releases, so
        the final move is a rename)."""
        _mkdir(self.releases)
        slug = "".join(c if c.isalnum() or c in "._-" else "_" for c in run_id)[:80]
        staging = self.releases / f"{STAGING_PREFIX}{day}-{slug}"
        staging.mkdir(mode=0o700)
        return staging

    def _in_place(self, day: str) -> bool:
        """Is a release of `day` in place (whether or not its `release` entry was written)?"""
        return self._folder_of(day).is_dir()

    def _digests(self, folder: Any) -> dict[str, str]:
        return file_digests(folder)

    def _remove_staging(self, entries: list[dict]) -> None:
        """Under the lock: staging folders are leftovers of runs that died; remove them."""
        if self.releases.is_dir():
            for leftover in self.releases.glob(f"{STAGING_PREFIX}*"):
                log.warning("budget ledger: removing %s left by an interrupted release", leftover.name)
                shutil.rmtree(leftover)

    def _check_budget(self, entries: list[dict], day: str, rho: float, budget: float, window: int) -> None:
        remaining, start, spent = self._headroom(self._spend(entries), date.fromisoformat(day), budget, window)
        if _exact(rho) > remaining:
            end = start + timedelta(days=window - 1)
            raise PrivacyError(
                f"privacy budget exceeded: a DP release of {day} needs rho={rho:.6g}, but the {window}-night window "
                f"{start.isoformat()}..{end.isoformat()} has spent rho={_up(spent):.6g} of its budget {budget:.6g} "
                f"(remaining {max(_down(remaining), 0.0):.6g}); no noise was drawn and nothing was published. Fix: "
                "lower the policy's nightly rho, or skip the night and wait until older spend leaves the window, "
                "or raise the budget only after a privacy review"
            )

    def _adopt(self, day: str, entries: list[dict]) -> Path:
        """A release moved into place whose `release` entry was never written (crash at
        dp.after_store): verify its files against `_release.json`, then record it."""
        folder = self._folder_of(day)
        try:
            recorded = json.loads((folder / RELEASE_DIGESTS).read_text())
            files = recorded["files"]
            ok = (
                recorded["day"] == day
                and self._digests(folder) == files
                and release_digest(files) == recorded["digest"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok or not any(e["kind"] == RESERVE and e["day"] == day for e in entries):
            raise PrivacyError(
                f"{folder} holds a DP release of {day} that the budget ledger did not record and that does not verify "
                "against its digests; nothing is drawn again: check whether it was published, then restore it or "
                "(only if it never left the private zone) move it away and rerun"
            )
        self._append(
            {
                "kind": RELEASE,
                "day": day,
                "run_id": recorded.get("run_id", ""),
                "digest": recorded["digest"],
                "files": files,
                "adopted": True,
            }
        )
        log.warning("budget ledger: adopted the stored release of %s left by an interrupted run", day)
        return folder

    @contextmanager
    def night(
        self,
        day: str | date,
        rho: float,
        run_id: str,
        policy_digest: str,
        budget: float,
        window: int,
        measures: Mapping[str, Any] | None = None,
    ) -> Iterator[Slot]:
        """Reserve `rho` for `day` (or find its stored release) and hand out its slot.

        If `slot.stored` is set, the night is already released: read it, draw nothing. Else
        draw the noise and write the release files into `slot.staging`; on normal exit the
        folder is made durable and moved into place atomically, the `release` entry appended and
        `slot.stored` set. On an exception the staging is removed and the reservation kept.
        Raises PrivacyError before anything is reserved if the budget does not allow `rho`.
        """
        day = _day(day)
        rho = _positive("rho", rho)
        with self._locked():
            entries, length = self._load()
            self._cut_torn_tail(length)
            self._remove_staging(entries)
            reserves = [e for e in entries if e["kind"] == RESERVE and e["day"] == day]
            stored = None
            if self._in_place(day):  # (a), or a release a crash left without its entry
                stored = self._verified(day, entries) or self._adopt(day, entries)
            elif any(e["kind"] == RELEASE and e["day"] == day for e in entries):
                raise PrivacyError(
                    f"the DP release of {day} is recorded in the budget ledger but its files are gone from "
                    f"{self.releases}; drawing fresh noise for a released night would allow averaging: restore "
                    "the folder from backup"
                )
            reserved = self._spend(reserves).get(day, Fraction(0))
            spent_now = 0.0
            if stored is None and _exact(rho) > reserved:  # (c), or (b) needing more rho
                extra = _up(_exact(rho) - reserved)
                self._check_budget(entries, day, extra, budget, window)
                written = self._append(
                    {
                        "kind": RESERVE,
                        "day": day,
                        "run_id": run_id,
                        "rho": extra,
                        "measures": dict(measures or {}),
                        "policy_digest": policy_digest,
                        "budget": float(budget),
                        "window_nights": int(window),
                    }
                )
                reserved, spent_now = reserved + _exact(extra), extra
                reserves = reserves or [written]
                crash_point("dp.after_reserve")
            slot = Slot(day, run_id, _up(reserved), spent_now, stored, None, dict(reserves[0]) if reserves else {})
            if stored is not None:
                yield slot
                return
            slot.staging = self._new_staging(day, run_id)
            try:
                yield slot
            except BaseException:
                shutil.rmtree(slot.staging, ignore_errors=True)
                raise
            try:
                slot.stored = self._commit(slot)
            except OSError as exc:
                raise PublishError(
                    f"could not store the DP release of {day} in {self.releases}: {exc.strerror}; its reservation "
                    "is kept, and a rerun finishes the release or draws it anew if it never got into place"
                ) from None

    def _commit(self, slot: Slot) -> Path:
        """Seal the staged release (its digests in `_release.json`), put it in place, then record it."""
        staging = slot.staging
        assert staging is not None
        if (staging / RELEASE_DIGESTS).exists():
            raise ValueError(f"{RELEASE_DIGESTS} is the ledger's own file name; name the release files otherwise")
        files = file_digests(staging)
        if not files:
            shutil.rmtree(staging)
            raise ValueError(f"nothing was written into the staging folder of {slot.day}; the reservation is kept")
        digest = release_digest(files)
        record = {"day": slot.day, "run_id": slot.run_id, "files": files, "digest": digest}
        (staging / RELEASE_DIGESTS).write_text(json.dumps(record, sort_keys=True, indent=1) + "\n")
        target = self._folder_of(slot.day)
        self._put_in_place(staging, target)
        crash_point("dp.after_store")
        entry = {"kind": RELEASE, "day": slot.day, "run_id": slot.run_id, "digest": digest, "files": files}
        self._append({**entry, "adopted": False})
        return target

    def _put_in_place(self, staging: Path, target: Any) -> None:
        """Make the sealed staging durable and move it into place atomically."""
        for path in sorted(staging.rglob("*"), reverse=True):  # files, then folders bottom-up
            _fsync(path)
        _fsync(staging)
        crash_point("dp.after_staging")
        os.rename(staging, target)  # atomic; the night has no release folder (checked under the lock)
        _fsync(self.releases)


class StoreLedger(Ledger):
    """The same ledger on an object store (`s3://...`), which has no append, flock, fsync or
    rename. The protocol and every check above are the same; the primitives change:

        entries/00000001.json ...     one entry per object, numbered from 1, each created only
                                      if absent (a conditional PUT): an entry is never
                                      rewritten, and two writers cannot both add entry n
        releases/day=YYYY-MM-DD/      the release's files, `_release.json` written last: a
                                      release is in place once that file is (readers trust only
                                      the files it lists, with their digests)
        .lock                         a lock object (ops/locks.py), taken over when stale

    Appending reads the entries, then creates entry n + 1 only if absent. If another writer
    added it meanwhile (a lock taken over from a run that was only slow), the append fails and
    the run stops before drawing: the budget was checked against every entry before it, so
    no spend is ever counted twice or missed. A PUT is durable once acknowledged, so there is
    no torn entry; an entry missing from the numbering means the ledger was damaged, and every
    operation refuses. The caller writes a new release into a local temporary folder; the
    commit uploads its files, then `_release.json`; files of a night without that file (an
    upload that died) are removed under the lock by the next run, which draws anew (that noise
    was never stored nor published), as a local staging folder is.
    """

    ENTRIES = "entries"

    def __init__(self, folder: Any, *, wait: float = 0.0) -> None:
        self.folder = folder
        self.path = folder / self.ENTRIES
        self.releases = folder / RELEASES
        self.wait = float(wait)
        self._seen = 0  # entries read by the last load: the next append is entry _seen + 1
        self._read: dict[str, bytes] = {}  # entries already fetched (never rewritten once created)

    def _load(self) -> tuple[list[dict], int]:
        names = [f.name for f in storage.files_under(self.path)]
        expected = [f"{n:08d}.json" for n in range(1, len(names) + 1)]
        if names != expected:
            raise PrivacyError(
                f"budget ledger {self.path} is damaged: its entries are not numbered 1..{len(names)} (an entry was "
                "deleted or a foreign object added); the privacy spend cannot be known, so no DP release is made: "
                "restore the entries from the store's versioning or backup (never delete spend)"
            )
        for name in names:
            if name not in self._read:
                self._read[name] = (self.path / name).read_bytes()
        entries = [self._parse(self._read[name].strip(), number) for number, name in enumerate(names, 1)]
        self._seen = len(entries)
        return entries, len(entries)

    def _cut_torn_tail(self, length: int) -> None:
        """A PUT is whole or absent: nothing to cut."""

    def _append(self, entry: dict) -> dict:
        # The entry after the ones the budget was checked against: if another writer added it
        # since, the conditional create fails rather than the spend being counted on stale entries.
        number = self._seen + 1
        entry = {"v": VERSION, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **entry}
        line = (json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()
        if not storage.create_exclusive(self.path / f"{number:08d}.json", line):
            raise RunInProgressError(
                f"the budget ledger {self.path} gained entry {number} while this run held its lock (a run taken for "
                "dead is still writing); this run stopped before drawing any noise: run again once the other is done"
            )
        self._seen = number
        return entry

    @contextmanager
    def _locked(self) -> Iterator[None]:
        from transforms.ops.locks import object_lock, stale_seconds

        lock = self.folder / LOCK_FILE
        with object_lock(lock, "a DP release of this export (ledger lock)", stale_seconds(), self.wait):
            yield

    def _in_place(self, day: str) -> bool:
        return (self._folder_of(day) / RELEASE_DIGESTS).exists()

    def _digests(self, folder: Any) -> dict[str, str]:
        names = {storage.relative(f, folder): f for f in storage.files_under(folder)}
        return {
            name: hashlib.sha256(f.read_bytes()).hexdigest() for name, f in names.items() if name != RELEASE_DIGESTS
        }

    def _remove_staging(self, entries: list[dict]) -> None:
        """Files of a night with no `_release.json` and no `release` entry: an upload that died."""
        released = {e["day"] for e in entries if e["kind"] == RELEASE}
        nights: dict[str, list] = {}
        for f in storage.files_under(self.releases):
            name = storage.relative(f, self.releases)
            nights.setdefault(name.split("/", 1)[0].removeprefix(DAY_PREFIX), []).append((name, f))
        for night, files in nights.items():
            if night in released or any(name.endswith(f"/{RELEASE_DIGESTS}") for name, _ in files):
                continue  # recorded, or in place and to be adopted
            for name, f in files:
                log.warning("budget ledger: removing %s left by an interrupted release", name)
                storage.remove(f)

    def _new_staging(self, day: str, run_id: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"dp-release-{day}-"))

    def _commit(self, slot: Slot) -> Any:
        """As on a filesystem; the local staging folder goes whatever happens, and what is in
        place is read back once recorded: a run taken for dead that is still uploading the same
        night could have overwritten files after this run's upload. Never hand out a mix."""
        try:
            target = super()._commit(slot)
        finally:
            shutil.rmtree(slot.staging, ignore_errors=True)
        if self._digests(target) != self.entries()[-1]["files"]:
            raise PrivacyError(
                f"the stored DP release of {slot.day} ({target}) changed while it was being recorded (another run of "
                "the night is still writing); nothing is published: let that run end, then rerun (the release is "
                "then checked against its ledger entry, and an operator decides if it does not match)"
            )
        return target

    def _put_in_place(self, staging: Path, target: Any) -> None:
        """Upload the files, `_release.json` last (a PUT is durable once acknowledged)."""
        crash_point("dp.after_staging")
        storage.copytree(staging, target, last=RELEASE_DIGESTS)


def open_ledger(folder: Any, *, wait: float = 0.0) -> Ledger:
    """The ledger in `folder`: on the local filesystem, or on an object store."""
    if storage.is_remote(folder):
        return StoreLedger(folder, wait=wait)
    return Ledger(folder, wait=wait)

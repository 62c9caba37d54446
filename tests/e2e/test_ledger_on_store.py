"""The privacy-budget ledger on an object store (issue 13): the same protocol as on a
filesystem (tests/unit/test_ledger.py) with a store's primitives, against a local S3-compatible
server. Spend before noise, reruns that hand back the stored bytes, crashes at every step that
neither lose the spend nor leave two releases for a night, and two writers that cannot both
add the same entry even when the lock fails them."""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext
from datetime import date, timedelta

import pytest

from tests.support.s3 import s3_server
from transforms import storage
from transforms.errors import PrivacyError, RunInProgressError
from transforms.ops.faults import ENV, InjectedCrash
from transforms.ops.ledger import RELEASE_DIGESTS, RELEASES, StoreLedger, open_ledger

D = date(2026, 3, 10)
BUDGET, WINDOW, RHO = 1.0, 3, 0.4
DATA = "part-00000.parquet"


def night(n: int) -> str:
    return (D + timedelta(days=n)).isoformat()


@pytest.fixture(scope="module")
def s3():
    with s3_server(("work-zone",)) as server:
        yield server


@pytest.fixture
def ledger(s3) -> StoreLedger:
    opened = open_ledger(storage.location(f"s3://work-zone/{uuid.uuid4().hex[:8]}/_dp"))
    assert isinstance(opened, StoreLedger)
    return opened


def release(ledger, day: str, payload: bytes = b"noisy", rho: float = RHO, run: str = "run-1"):
    with ledger.night(day, rho, run, "policy-sha", BUDGET, WINDOW, {"viewers": {"rho": rho}}) as slot:
        if slot.stored is None:
            (slot.staging / DATA).write_bytes(payload)
    return slot


def kinds(ledger) -> list[tuple[str, str]]:
    return [(e["kind"], e["day"]) for e in ledger.entries()]


def objects(s3, ledger) -> list[str]:
    root = storage.key(ledger.folder)
    return sorted(name[len(root) + 1 :] for name in s3.fs.find(root))


def test_a_release_is_reserved_then_stored_as_objects(s3, ledger):
    slot = release(ledger, night(0), b"noisy")
    assert slot.spent_now == RHO and slot.rho == RHO
    assert str(slot.stored) == str(ledger.folder / RELEASES / f"day={night(0)}")
    assert (slot.stored / DATA).read_bytes() == b"noisy"
    assert objects(s3, ledger) == [
        "entries/00000001.json",
        "entries/00000002.json",
        f"{RELEASES}/day={night(0)}/{RELEASE_DIGESTS}",
        f"{RELEASES}/day={night(0)}/{DATA}",
    ]  # the lock object is gone, and nothing was staged on the store
    assert kinds(ledger) == [("reserve", night(0)), ("release", night(0))]
    assert ledger.entries()[1]["files"] == json.loads((slot.stored / RELEASE_DIGESTS).read_text())["files"]
    assert not slot.staging.exists()  # the local staging folder is removed after the upload


def test_a_rerun_returns_the_stored_bytes_and_spends_nothing(s3, ledger):
    release(ledger, night(0), b"first")
    before = objects(s3, ledger)
    slot = release(ledger, night(0), b"second", run="run-2")
    assert slot.staging is None and slot.spent_now == 0
    assert (slot.stored / DATA).read_bytes() == b"first"
    assert objects(s3, ledger) == before


def test_an_over_budget_night_is_refused_before_anything_is_written(s3, ledger):
    release(ledger, night(0))
    release(ledger, night(1))
    before = objects(s3, ledger)
    entered = []
    with pytest.raises(PrivacyError, match="privacy budget exceeded") as refused:
        with ledger.night(night(2), RHO, "run-1", "policy-sha", BUDGET, WINDOW):
            entered.append(True)
    assert "no noise was drawn" in str(refused.value) and not entered
    assert objects(s3, ledger) == before
    release(ledger, night(2), rho=0.2)
    assert ledger.spend() == {night(0): RHO, night(1): RHO, night(2): 0.2}


def test_crash_after_reserve_the_rerun_stores_without_spending_again(ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_reserve")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0))
    assert kinds(ledger) == [("reserve", night(0))]
    monkeypatch.delenv(ENV)
    slot = release(ledger, night(0), b"second", run="run-2")
    assert slot.spent_now == 0 and (slot.stored / DATA).read_bytes() == b"second"
    assert ledger.spend() == {night(0): RHO}


def test_an_upload_that_died_is_removed_and_never_published(s3, ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_staging")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0), b"first")
    monkeypatch.delenv(ENV)
    assert objects(s3, ledger) == ["entries/00000001.json"]  # the staging was local and is gone
    # An upload cut short: the data file arrived, `_release.json` never did.
    (ledger.folder / RELEASES / f"day={night(0)}" / "part-00001.parquet").write_bytes(b"half")
    assert ledger.stored_release(night(0)) is None
    slot = release(ledger, night(0), b"second")
    assert slot.spent_now == 0 and (slot.stored / DATA).read_bytes() == b"second"
    assert kinds(ledger) == [("reserve", night(0)), ("release", night(0))]
    assert f"{RELEASES}/day={night(0)}/part-00001.parquet" not in objects(s3, ledger)
    assert ledger.stored_release(night(0)) == slot.stored


def test_crash_after_store_the_release_is_verified_and_adopted(ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_store")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0), b"first")
    assert kinds(ledger) == [("reserve", night(0))] and ledger.stored_release(night(0)) is None
    monkeypatch.delenv(ENV)
    slot = release(ledger, night(0), b"second")
    assert slot.staging is None and slot.spent_now == 0 and (slot.stored / DATA).read_bytes() == b"first"
    assert ledger.entries()[-1]["adopted"] is True


def test_a_changed_or_vanished_release_is_never_drawn_again(s3, ledger, monkeypatch):
    stored = release(ledger, night(0), b"first").stored
    (stored / DATA).write_bytes(b"changed")
    with pytest.raises(PrivacyError, match="no longer matches"):
        release(ledger, night(0))
    storage.rmtree(stored)
    with pytest.raises(PrivacyError, match="averaging"):
        release(ledger, night(0))
    monkeypatch.setenv(ENV, "dp.after_store")
    with pytest.raises(InjectedCrash):
        release(ledger, night(1), b"first")
    monkeypatch.delenv(ENV)
    (ledger.folder / RELEASES / f"day={night(1)}" / DATA).write_bytes(b"tampered")
    with pytest.raises(PrivacyError, match="does not verify"):
        release(ledger, night(1))
    assert ledger.spend() == {night(0): RHO, night(1): RHO}


def test_a_missing_entry_makes_the_ledger_unreadable(s3, ledger):
    release(ledger, night(0))
    storage.remove(ledger.folder / "entries" / "00000001.json")
    with pytest.raises(PrivacyError, match="damaged"):
        ledger.spend()
    with pytest.raises(PrivacyError, match="damaged"):
        release(ledger, night(1))


def test_a_held_lock_stops_a_second_release(s3, ledger):
    other = open_ledger(ledger.folder)
    with ledger.night(night(0), RHO, "run-1", "policy-sha", BUDGET, WINDOW) as slot:
        (slot.staging / DATA).write_bytes(b"ours")
        with pytest.raises(RunInProgressError, match="in progress"):
            release(other, night(1))
    assert ledger.spend() == {night(0): RHO}


def test_two_writers_past_a_failed_lock_cannot_both_spend(s3, ledger, monkeypatch):
    """The lock was taken over from a run that was only slow: both hold it. The slow one read
    the ledger before the other's release; its reserve then fails and it draws nothing."""
    slow, fast = open_ledger(ledger.folder), open_ledger(ledger.folder)
    monkeypatch.setattr(StoreLedger, "_locked", lambda self: nullcontext())
    real_check = StoreLedger._check_budget

    def check_then_lose_the_race(self, entries, day, rho, budget, window):
        real_check(self, entries, day, rho, budget, window)
        if self is slow:
            release(fast, night(1), b"fast")  # committed while the slow run was checking

    monkeypatch.setattr(StoreLedger, "_check_budget", check_then_lose_the_race)
    entered = []
    with pytest.raises(RunInProgressError, match="gained entry 1"):
        with slow.night(night(0), RHO, "slow", "policy-sha", BUDGET, WINDOW):
            entered.append(True)
    assert not entered
    assert ledger.spend() == {night(1): RHO}
    assert kinds(ledger) == [("reserve", night(1)), ("release", night(1))]


def test_files_overwritten_while_the_release_is_recorded_are_never_handed_out(s3, ledger, monkeypatch):
    """A run taken for dead uploads the same night's files after this run's upload."""
    real_append = StoreLedger._append

    def late_writer(self, entry):
        if entry["kind"] == "release":
            (self._folder_of(entry["day"]) / DATA).write_bytes(b"theirs")
        return real_append(self, entry)

    monkeypatch.setattr(StoreLedger, "_append", late_writer)
    with pytest.raises(PrivacyError, match="changed while it was being recorded"):
        release(ledger, night(0), b"ours")
    monkeypatch.undo()
    with pytest.raises(PrivacyError, match="no longer matches"):  # and every later run refuses it
        release(ledger, night(0))

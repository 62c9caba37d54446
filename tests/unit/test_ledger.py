"""The privacy-budget ledger: spend before noise, refusals before anything is written, reruns
that hand back the stored bytes, and crashes at every step that neither lose the spend nor
leave two releases for one night."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.support import ROOT
from transforms.errors import PrivacyError, RunInProgressError
from transforms.ops.faults import ENV, POINTS, InjectedCrash
from transforms.ops.ledger import LEDGER_FILE, RELEASE_DIGESTS, RELEASES, STAGING_PREFIX, Ledger

D = date(2026, 3, 10)
BUDGET, WINDOW, RHO = 1.0, 3, 0.4
DATA = "part-00000.parquet"


def night(n: int) -> str:
    return (D + timedelta(days=n)).isoformat()


def release(ledger: Ledger, day: str, payload: bytes | None = None, rho: float = RHO, run: str = "run-1"):
    """One release through the protocol; the payload stands for the noisy Parquet file."""
    with ledger.night(day, rho, run, "policy-sha", BUDGET, WINDOW, {"viewers": {"rho": rho}}) as slot:
        if slot.stored is None:
            (slot.staging / DATA).write_bytes(os.urandom(64) if payload is None else payload)
    return slot


def kinds(ledger: Ledger) -> list[tuple[str, str]]:
    return [(e["kind"], e["day"]) for e in ledger.entries()]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / RELEASES).glob(f"{STAGING_PREFIX}*"))


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(tmp_path / "_dp")


def test_the_crash_points_are_registered():
    assert {"dp.after_reserve", "dp.after_staging", "dp.after_store"} <= set(POINTS)


def test_a_release_is_reserved_then_stored(ledger):
    slot = release(ledger, night(0), b"noisy")
    assert slot.spent_now == RHO and slot.rho == RHO
    assert slot.stored == ledger.folder / RELEASES / f"day={night(0)}" == ledger.stored_release(night(0))
    assert (slot.stored / DATA).read_bytes() == b"noisy"
    assert kinds(ledger) == [("reserve", night(0)), ("release", night(0))]
    reserve, done = ledger.entries()
    assert reserve["policy_digest"] == "policy-sha" and reserve["window_nights"] == WINDOW
    assert done["files"] == json.loads((slot.stored / RELEASE_DIGESTS).read_text())["files"]
    assert ledger.spend() == {night(0): RHO}
    assert leftovers(ledger.folder) == [] and ledger.stored_release(night(1)) is None
    for line in (ledger.folder / LEDGER_FILE).read_bytes().splitlines():
        json.loads(line)


def test_a_rerun_returns_the_stored_bytes_and_spends_nothing(ledger):
    first = release(ledger, night(0))
    payload = (first.stored / DATA).read_bytes()
    before = (ledger.folder / LEDGER_FILE).read_bytes()
    drew = []
    with ledger.night(night(0), RHO, "run-2", "policy-sha", BUDGET, WINDOW) as slot:
        if slot.stored is None:
            drew.append(True)
    assert not drew and slot.staging is None and slot.spent_now == 0
    assert (slot.stored / DATA).read_bytes() == payload
    assert (ledger.folder / LEDGER_FILE).read_bytes() == before  # nothing appended


def test_an_over_budget_night_is_refused_before_anything_is_written(ledger):
    release(ledger, night(0))
    release(ledger, night(1))
    before = (ledger.folder / LEDGER_FILE).read_bytes()
    entered = []
    with pytest.raises(PrivacyError) as refused:
        with ledger.night(night(2), RHO, "run-1", "policy-sha", BUDGET, WINDOW):
            entered.append(True)  # where noise would be drawn
    message = str(refused.value)
    assert f"{night(0)}..{night(2)}" in message and "spent rho=0.8" in message and "remaining 0.2" in message
    assert "no noise was drawn" in message and "lower the policy's nightly rho" in message
    assert not entered
    assert (ledger.folder / LEDGER_FILE).read_bytes() == before
    assert ledger.stored_release(night(2)) is None and leftovers(ledger.folder) == []
    release(ledger, night(2), rho=0.2)  # what fits still goes
    release(ledger, night(3))  # the window night(1)..night(3) holds 0.4 + 0.2: room for 0.4
    assert ledger.available(night(4), BUDGET, WINDOW) == pytest.approx(0.4)


def test_a_backfill_spends_from_its_own_windows(ledger):
    release(ledger, night(5))
    release(ledger, night(6))
    with pytest.raises(PrivacyError, match=f"{night(4)}..{night(6)}"):
        release(ledger, night(4))  # its window with the two later nights is full
    assert ledger.spend() == {night(5): RHO, night(6): RHO}
    release(ledger, night(2))  # an older night: its windows have room
    assert ledger.spend()[night(2)] == RHO
    assert ledger.available(night(3), BUDGET, WINDOW) == pytest.approx(0.6)
    assert ledger.available(night(4), BUDGET, WINDOW) == pytest.approx(0.2)
    rows = {row["window_end"]: row for row in ledger.summary(BUDGET, WINDOW, night(7))}
    assert list(rows) == [night(2), night(5), night(6), night(7)]
    assert rows[night(6)] == {
        "window_start": night(4),
        "window_end": night(6),
        "nights": 2,
        "spent": pytest.approx(0.8),
        "remaining": pytest.approx(0.2),
    }
    assert rows[night(7)]["spent"] == pytest.approx(0.8) and rows[night(2)]["nights"] == 1


def test_a_torn_last_line_is_ignored_then_cut_before_the_next_append(ledger, caplog):
    release(ledger, night(0))
    path = ledger.folder / LEDGER_FILE
    complete = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"v":1,"kind":"reserve","day":"' + night(1).encode())  # a crash mid-append
    assert kinds(ledger) == [("reserve", night(0)), ("release", night(0))]
    assert "torn last line" in caplog.text
    assert ledger.spend() == {night(0): RHO}
    release(ledger, night(1), rho=0.2)
    data = path.read_bytes()
    assert data.startswith(complete) and data.endswith(b"\n")
    assert [json.loads(line)["day"] for line in data.splitlines()] == [night(0), night(0), night(1), night(1)]


def test_an_unreadable_complete_line_stops_every_release(ledger):
    release(ledger, night(0))
    with (ledger.folder / LEDGER_FILE).open("ab") as f:
        f.write(b"not json\n")
    with pytest.raises(PrivacyError, match="line 3 is unreadable"):
        release(ledger, night(1))
    with pytest.raises(PrivacyError):
        ledger.spend()


def test_crash_after_reserve_the_rerun_stores_without_spending_again(ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_reserve")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0))
    assert kinds(ledger) == [("reserve", night(0))]
    monkeypatch.delenv(ENV)
    slot = release(ledger, night(0), b"second", run="run-2")
    assert slot.spent_now == 0 and slot.rho == RHO
    assert (slot.stored / DATA).read_bytes() == b"second"
    assert kinds(ledger) == [("reserve", night(0)), ("release", night(0))]
    assert ledger.spend() == {night(0): RHO}


def test_a_rerun_needing_more_rho_than_reserved_reserves_only_the_difference(ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_reserve")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0), rho=0.3)
    monkeypatch.delenv(ENV)
    slot = release(ledger, night(0), rho=RHO)
    assert slot.spent_now == pytest.approx(0.1) and slot.rho == pytest.approx(RHO)
    assert kinds(ledger) == [("reserve", night(0)), ("reserve", night(0)), ("release", night(0))]
    assert ledger.spend()[night(0)] == pytest.approx(RHO)


def test_crash_while_drawing_keeps_the_spend_and_leaves_nothing_to_publish(ledger):
    with pytest.raises(InjectedCrash):
        with ledger.night(night(0), RHO, "run-1", "policy-sha", BUDGET, WINDOW) as slot:
            (slot.staging / DATA).write_bytes(b"half")
            raise InjectedCrash("while writing")
    assert leftovers(ledger.folder) == [] and ledger.stored_release(night(0)) is None
    assert release(ledger, night(0), b"whole").spent_now == 0
    assert ledger.spend() == {night(0): RHO}


def test_process_killed_mid_write_the_next_run_cleans_up_and_resumes(ledger):
    script = f"""
        import os
        from transforms.ops.ledger import Ledger
        with Ledger({str(ledger.folder)!r}).night({night(0)!r}, {RHO}, "doomed", "policy-sha", {BUDGET}, {WINDOW}) as s:
            (s.staging / {DATA!r}).write_bytes(b"partial")
            os._exit(9)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == 9, proc.stderr.decode()
    assert leftovers(ledger.folder) == [f"{STAGING_PREFIX}{night(0)}-doomed"]
    slot = release(ledger, night(0), b"whole")
    assert slot.spent_now == 0 and (slot.stored / DATA).read_bytes() == b"whole"
    assert leftovers(ledger.folder) == [] and ledger.spend() == {night(0): RHO}


def test_crash_after_staging_the_staged_release_is_discarded_never_published(ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_staging")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0), b"first")
    assert len(leftovers(ledger.folder)) == 1 and ledger.stored_release(night(0)) is None
    monkeypatch.delenv(ENV)
    slot = release(ledger, night(0), b"second")
    assert slot.spent_now == 0 and (slot.stored / DATA).read_bytes() == b"second"
    assert leftovers(ledger.folder) == [] and ledger.spend() == {night(0): RHO}


def test_crash_after_store_the_release_is_verified_and_adopted(ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_store")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0), b"first")
    assert kinds(ledger) == [("reserve", night(0))]
    assert ledger.stored_release(night(0)) is None  # in place, but not committed
    monkeypatch.delenv(ENV)
    slot = release(ledger, night(0), b"second")  # must not draw: the stored release is adopted
    assert slot.staging is None and slot.spent_now == 0
    assert (slot.stored / DATA).read_bytes() == b"first"
    assert kinds(ledger) == [("reserve", night(0)), ("release", night(0))]
    assert ledger.entries()[-1]["adopted"] is True
    again = release(ledger, night(0), b"third")
    assert (again.stored / DATA).read_bytes() == b"first" and len(ledger.entries()) == 2


def test_a_stored_release_that_does_not_verify_is_never_replaced(ledger, monkeypatch):
    monkeypatch.setenv(ENV, "dp.after_store")
    with pytest.raises(InjectedCrash):
        release(ledger, night(0), b"first")
    monkeypatch.delenv(ENV)
    stored = ledger.folder / RELEASES / f"day={night(0)}"
    (stored / DATA).write_bytes(b"tampered")
    with pytest.raises(PrivacyError, match="does not verify"):
        release(ledger, night(0), b"second")
    assert (stored / DATA).read_bytes() == b"tampered" and kinds(ledger) == [("reserve", night(0))]


def test_a_released_night_whose_files_changed_or_vanished_is_not_drawn_again(ledger):
    stored = release(ledger, night(0), b"first").stored
    (stored / DATA).write_bytes(b"changed")
    with pytest.raises(PrivacyError, match="no longer matches"):
        release(ledger, night(0))
    for path in stored.iterdir():
        path.unlink()
    stored.rmdir()
    with pytest.raises(PrivacyError, match="averaging"):
        release(ledger, night(0))
    assert ledger.spend() == {night(0): RHO}


def test_two_processes_one_night_only_one_draws(ledger):
    script = f"""
        import sys
        from transforms.ops.ledger import Ledger
        with Ledger({str(ledger.folder)!r}).night({night(0)!r}, {RHO}, "other", "policy-sha", {BUDGET}, {WINDOW}) as s:
            (s.staging / {DATA!r}).write_bytes(b"theirs")
            print("holding", flush=True)
            sys.stdin.readline()
    """
    other = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert other.stdout.readline() == b"holding\n"
        with pytest.raises(RunInProgressError, match="in progress"):
            release(ledger, night(0), b"ours")
        with pytest.raises(RunInProgressError):
            release(Ledger(ledger.folder, wait=0.2), night(1), b"ours")
        other.communicate(b"go\n", timeout=60)
    finally:
        other.kill()
        other.wait()
    assert other.returncode == 0
    slot = release(ledger, night(0), b"ours")
    assert slot.spent_now == 0 and (slot.stored / DATA).read_bytes() == b"theirs"
    assert ledger.spend() == {night(0): RHO}

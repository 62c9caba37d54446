"""Crashes at every step, concurrent runs, backfills, reruns: never a mix, never a duplicate."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.support import DAY, POLICY_PATH, ROOT
from transforms.context import Layout, RunContext
from transforms.errors import RunInProgressError
from transforms.exports.rows.history import night_dir, read_night
from transforms.ops.faults import ENV, InjectedCrash
from transforms.ops.keys import Key, KeyRing
from transforms.ops.locks import day_lock
from transforms.pipeline import run_all, run_stage
from transforms.stages.purge import purge

pytestmark = pytest.mark.slow

KEY_A = KeyRing("ka", {"ka": Key("ka", b"a" * 32)})
KEY_B = KeyRing("kb", {"kb": Key("kb", b"b" * 32)})


def _ctx(raw, out, run_id, day=DAY, policy=POLICY_PATH):
    return RunContext(str(policy), str(day), run_id, str(raw), str(out / "extracts"), str(out / "work"))


def _partition(out, day=DAY):
    return out / "extracts" / "viewing_sessions" / f"day={day}"


def _state(out, day=DAY) -> str:
    """Which complete version is published ('ka'/'kb'), checked file by file against the manifest."""
    part = _partition(out, day)
    manifest = json.loads((part / "_manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    on_disk = {p.name for p in part.glob("*.parquet")}
    assert on_disk == set(listed), "files on disk differ from the manifest: a mix"
    for name, digest in listed.items():
        assert hashlib.sha256((part / name).read_bytes()).hexdigest() == digest
    return manifest["pseudonym"]["key_id"]


@pytest.mark.parametrize(
    ("point", "expected_after_crash"),
    [
        ("validate.after_staging", "ka"),
        ("validate.after_suites", "ka"),
        ("publish.after_manifest", "ka"),
        ("publish.after_exchange", "kb"),
    ],
)
def test_crash_leaves_old_or_new_and_the_next_run_recovers(raw_day, tmp_path, monkeypatch, point, expected_after_crash):
    run_all(_ctx(raw_day, tmp_path, "first"), KEY_A)
    assert _state(tmp_path) == "ka"
    monkeypatch.setenv(ENV, point)
    with pytest.raises(InjectedCrash):
        run_all(_ctx(raw_day, tmp_path, "crashing"), KEY_B)
    monkeypatch.delenv(ENV)
    assert _state(tmp_path) == expected_after_crash
    run_all(_ctx(raw_day, tmp_path, "again"), KEY_B)
    assert _state(tmp_path) == "kb"
    export_dir = tmp_path / "extracts" / "viewing_sessions"
    # no aside or duplicate folders: the partition and the index of runs only
    assert sorted(p.name for p in export_dir.iterdir()) == ["_index.html", f"day={DAY}"]
    staging = tmp_path / "extracts" / ".staging" / "viewing_sessions" / str(DAY)
    assert not staging.exists() or not any(staging.iterdir())


WEEK = [DAY, DAY + timedelta(days=1)]  # Monday and Tuesday of one ISO week (2026-W48)


@pytest.fixture(scope="module")
def week_raw(tmp_path_factory):
    """Two consecutive nights of one population: a week epoch links their plays (fixed seed)."""
    from devtools.fake_logs import generate_days

    raw = tmp_path_factory.mktemp("week-raw")
    generate_days(raw, WEEK[0], len(WEEK), events=2000, seed=23)
    return raw


def _week_policy(tmp_path) -> Path:
    """The shipped policy with a week pseudonym epoch (its history protection then spans the week)."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "reference").symlink_to(POLICY_PATH.parent / "reference")
    text = POLICY_PATH.read_text()
    assert "  epoch: day " in text
    path = folder / "viewing_sessions.yaml"
    path.write_text(text.replace("  epoch: day ", "  epoch: week "))
    return path


def _history(out, day) -> dict[str, bytes]:
    """A night's private history state on disk, file by file."""
    folder = night_dir(Layout(out / "extracts", out / "work"), "viewing_sessions", str(day))
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


@pytest.mark.parametrize("point", ["history.after_exchange", "publish.after_state"])
def test_a_crash_around_the_history_state_leaves_old_or_new_and_the_next_run_recovers(
    week_raw, tmp_path, monkeypatch, point
):
    """Tuesday of a week epoch, rerun with another key, dies after its new history state is in
    place but before its partition is: the old partition stands, the new state is ignored (it
    does not describe what is published) and the state it replaced still counts (it does), and
    the next run publishes the new night with a state that matches it."""
    path = _week_policy(tmp_path)
    layout = Layout(tmp_path / "extracts", tmp_path / "work")
    monday, tuesday = (str(d) for d in WEEK)
    for day in WEEK:
        run_all(_ctx(week_raw, tmp_path, "first", day, path), KEY_A)
    monday_state = _history(tmp_path, monday)
    first = read_night(layout, "viewing_sessions", tuesday)
    assert first is not None and [ref["day"] for ref in first.history] == [monday]
    assert _state(tmp_path, WEEK[1]) == "ka"

    monkeypatch.setenv(ENV, point)
    with pytest.raises(InjectedCrash) as crash:
        run_all(_ctx(week_raw, tmp_path, "crashing", WEEK[1], path), KEY_B)
    assert crash.value.args == (point,)
    monkeypatch.delenv(ENV)
    assert _state(tmp_path, WEEK[1]) == "ka"  # the partition was not swapped: the old one, whole
    assert _state(tmp_path, WEEK[0]) == "ka"
    # The state in place is the crashed run's: not what is published, so no night counts on it;
    # the one it replaced describes the published partition and still counts.
    in_place = _history(tmp_path, tuesday)
    assert hashlib.sha256(in_place["items.parquet"]).hexdigest() != first.items_sha256
    kept = read_night(layout, "viewing_sessions", tuesday)
    assert kept is not None and kept.items_sha256 == first.items_sha256
    assert _history(tmp_path, monday) == monday_state

    run_all(_ctx(week_raw, tmp_path, "again", WEEK[1], path), KEY_B)
    assert _state(tmp_path, WEEK[1]) == "kb"
    again = read_night(layout, "viewing_sessions", tuesday)
    assert again is not None and again.items_sha256 != first.items_sha256
    assert again.history == [
        {"day": monday, "items_sha256": read_night(layout, "viewing_sessions", monday).items_sha256}
    ]
    assert _history(tmp_path, monday) == monday_state
    # State and partition agree: a rerun of the night succeeds and gives the same bytes.
    published = {p.name: p.read_bytes() for p in _partition(tmp_path, WEEK[1]).glob("*.parquet")}
    state = _history(tmp_path, tuesday)
    run_all(_ctx(week_raw, tmp_path, "rerun", WEEK[1], path), KEY_B)
    assert {p.name: p.read_bytes() for p in _partition(tmp_path, WEEK[1]).glob("*.parquet")} == published
    assert _history(tmp_path, tuesday) == state
    # No aside, duplicate or staging folders left, public or private.
    export_dir = tmp_path / "extracts" / "viewing_sessions"
    assert sorted(p.name for p in export_dir.iterdir()) == ["_index.html", f"day={monday}", f"day={tuesday}"]
    assert not any((tmp_path / "extracts" / ".staging").rglob("*.parquet"))
    history_root = night_dir(layout, "viewing_sessions", monday).parent
    assert sorted(p.name for p in history_root.iterdir()) == [f"day={monday}", f"day={tuesday}"]


def test_rerun_gives_the_same_manifest_apart_from_run_and_time(raw_day, tmp_path):
    manifests = []
    for run in ("r1", "r2"):
        run_all(_ctx(raw_day, tmp_path, run), KEY_A)
        m = json.loads((_partition(tmp_path) / "_manifest.json").read_text())
        for volatile in ("run_id", "created_at", "stage_seconds"):
            m.pop(volatile)
        m["search"].pop("seconds")
        manifests.append(m)
    assert manifests[0] == manifests[1]


LOCK_CODE = (
    "from pathlib import Path; from transforms.context import Layout; from transforms.ops.locks import day_lock\n"
    "with day_lock(Layout(Path({out!r})).lock_file('viewing_sessions', {day!r}), 'viewing_sessions', {day!r}): {body}"
)


def test_a_second_run_of_the_same_day_is_refused_while_one_runs(raw_day, tmp_path):
    out = tmp_path / "extracts"
    lock = _ctx(raw_day, tmp_path, "x").layout.lock_file("viewing_sessions", str(DAY))
    with day_lock(lock, "viewing_sessions", str(DAY)):
        # Same process holds it: another process is a subprocess.
        code = LOCK_CODE.format(out=str(out), day=str(DAY), body="pass")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode != 0 and "RunInProgressError" in r.stderr and "in progress" in r.stderr
        code = LOCK_CODE.format(out=str(out), day="2026-11-22", body="pass")
        other_day = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert other_day.returncode == 0


def test_publish_takes_the_lock(raw_day, tmp_path):
    ctx = _ctx(raw_day, tmp_path, "locked")
    for stage in ("pull", "pseudonymize", "generalize", "anonymize", "validate"):
        run_stage(stage, ctx, KEY_A if stage == "pseudonymize" else None)
    code = "import time\n" + LOCK_CODE.format(out=str(tmp_path / "extracts"), day=str(DAY), body="time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        lock = tmp_path / "extracts" / ".locks" / f"viewing_sessions-{DAY}.lock"
        for _ in range(100):
            if lock.exists() and lock.read_text().strip():
                break
            __import__("time").sleep(0.1)
        with pytest.raises(RunInProgressError, match="in progress") as err:
            run_stage("publish", ctx)
        assert err.value.retryable
    finally:
        holder.kill()
        holder.wait()


def test_purge_crash_never_leaves_a_half_deleted_partition(tmp_path, monkeypatch):
    export = tmp_path / "viewing_sessions"
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        (export / f"day={day}").mkdir(parents=True)
        for i in range(3):
            (export / f"day={day}" / f"part-{i}.parquet").write_bytes(b"x")
    monkeypatch.setenv(ENV, "purge.after_first")
    trash = tmp_path / ".trash" / "viewing_sessions"
    with pytest.raises(InjectedCrash):
        purge(export, trash, date(2026, 11, 23), 90)
    monkeypatch.delenv(ENV)
    left = sorted(p.name for p in export.iterdir())
    assert left == ["day=2026-01-02", "day=2026-01-03"]
    assert all(len(list((export / d).iterdir())) == 3 for d in left)
    purge(export, trash, date(2026, 11, 23), 90)
    assert list(export.iterdir()) == []
    assert not (tmp_path / ".trash" / "viewing_sessions").exists() or not any((tmp_path / ".trash").rglob("*.parquet"))


def test_backfill_runs_each_day_independently(tmp_path):
    from devtools.fake_logs import generate_day

    raw = tmp_path / "raw"
    for day in (date(2026, 11, 20), date(2026, 11, 21)):
        generate_day(raw, day, events=1500, seed=9)
    key = tmp_path / "key"
    key.write_text("k" * 40)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "transforms",
            "backfill",
            "--policy",
            str(POLICY_PATH),
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-22",
            "--raw-root",
            str(raw),
            "--out-root",
            str(tmp_path / "out"),
            "--key-file",
            str(key),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 1, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert result["2026-11-20"]["status"] == result["2026-11-21"]["status"] == "published"
    assert result["2026-11-22"]["status"] == "failed" and "no viewing_events files" in result["2026-11-22"]["reason"]
    assert sorted(p.name for p in (tmp_path / "out" / "viewing_sessions").glob("day=*")) == [
        "day=2026-11-20",
        "day=2026-11-21",
    ]

"""Object stores end to end (issue 13): the raw zone, the work location, the extract root and
the quarantine on an S3-compatible server (moto's, started here on a free local port; never
the internet). The generated test day must publish the bytes recorded for local runs
(tests/support/golden.py): the same extract and manifest figures, whatever the storage.

The row export runs as an Airflow deployment without shared disk would run it: each stage in
its own process, in its own empty working folder and temp folder, deleted after the stage, so
the stages can only hand over through the store. The audience tables run through the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from tests.support import DAY, POLICY_PATH, ROOT
from tests.support.golden import AUDIENCE, AUDIENCE_POLICY_PATH, EXPECTED, GOLDEN_KEY, manifest_digest
from tests.support.s3 import s3_server
from transforms.context import DATA_FILE, MANIFEST, QUARANTINE_FILE, RunContext
from transforms.errors import RunInProgressError, StorageError
from transforms.ops.faults import ENV as CRASH_ENV
from transforms.ops.faults import InjectedCrash
from transforms.ops.keys import load_key_ring
from transforms.pipeline import run_all
from transforms.stages import NAMES

BUCKETS = ("raw-zone", "work-zone", "extracts", "quarantine")


@pytest.fixture(scope="module")
def s3():
    with s3_server(BUCKETS) as server:
        yield server


@pytest.fixture(scope="module")
def raw_on_s3(s3, raw_day) -> str:
    s3.fs.put(f"{raw_day}/", "raw-zone/in/", recursive=True)
    return "s3://raw-zone/in"


def _ctx(policy: Path, raw: str, out: str, work: str, quarantine: str | None, run_id: str) -> RunContext:
    return RunContext(str(policy), DAY.isoformat(), run_id, raw, out, work, quarantine)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "key"
    path.write_text(GOLDEN_KEY)
    return path


_WORKER = """
import json, sys
from transforms.context import RunContext
from transforms.ops.keys import load_key_ring
from transforms.pipeline import run_stage
ctx = RunContext.from_dict(json.loads(sys.argv[1]))
print(json.dumps(run_stage(sys.argv[2], ctx, load_key_ring(sys.argv[3]))))
"""


def _on_a_fresh_worker(ctx: RunContext, stage: str, tmp: Path, key_file: Path) -> dict:
    """One stage in a new process whose working and temp folders are new and deleted after."""
    home = tmp / f"worker-{stage}"
    (home / "tmp").mkdir(parents=True)
    env = {**os.environ, "TMPDIR": str(home / "tmp"), "HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, json.dumps(ctx.to_dict()), stage, str(key_file)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    left = [p for p in home.rglob("*") if p.is_file()]
    shutil.rmtree(home)
    return {"summary": json.loads(done.stdout.strip().splitlines()[-1]), "left_on_worker": left}


@pytest.fixture(scope="module")
def rows(s3, raw_on_s3, key_file, tmp_path_factory):
    """The row export on the store, stage by stage, each on a fresh worker."""
    tmp = tmp_path_factory.mktemp("object-store")
    ctx = _ctx(POLICY_PATH, raw_on_s3, "s3://extracts/out", "s3://work-zone/w", "s3://quarantine/q", "store-run")
    workers = {stage: _on_a_fresh_worker(ctx, stage, tmp, key_file) for stage in NAMES}
    return SimpleNamespace(ctx=ctx, workers=workers, part=f"extracts/out/viewing_sessions/day={DAY}")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_stages_on_workers_without_shared_disk_publish_the_recorded_bytes(s3, rows):
    parquet, manifest_sha = EXPECTED[POLICY_PATH]
    assert _digest(s3.fs.cat_file(f"{rows.part}/{DATA_FILE}")) == parquet  # as on local folders
    manifest = json.loads(s3.fs.cat_file(f"{rows.part}/{MANIFEST}"))
    assert manifest_digest(manifest) == manifest_sha
    assert rows.workers["publish"]["summary"]["published_rows"] == manifest["counts"]["published_rows"] > 0
    # Nothing a stage wrote stayed on its worker: every hand-over went through the store.
    assert {stage: w["left_on_worker"] for stage, w in rows.workers.items() if w["left_on_worker"]} == {}


def test_the_store_holds_the_partition_the_state_and_the_quarantine_and_nothing_else(s3, rows):
    names = {n.removeprefix(rows.part + "/") for n in s3.fs.find(rows.part)}
    assert {DATA_FILE, MANIFEST, "_reports/privacy_report.html", "_reports/data_docs/index.html"} <= names
    assert s3.fs.exists("extracts/out/viewing_sessions/_index.html")
    # The run's private work folder is gone; the night's history state stays (its epoch).
    work = s3.fs.find("work-zone/w/viewing_sessions")
    assert work and all("/_history/day=" in n for n in work), work
    assert not s3.fs.find("extracts/out/.staging")
    assert not s3.fs.find("extracts/out/.locks")
    # Every rejected line is in the quarantine, with its reason: the counts reconcile.
    rejected = pq.read_table(s3.fs.open(f"quarantine/q/viewing_sessions/day={DAY}/{QUARANTINE_FILE}", "rb"))
    manifest = json.loads(s3.fs.cat_file(f"{rows.part}/{MANIFEST}"))
    assert rejected.num_rows == manifest["counts"]["rejected_rows"] > 0
    assert all(f.startswith("s3://raw-zone/in/viewing_events/") for f in rejected.column("_file").to_pylist())


def test_a_rerun_replaces_the_partition_whole(s3, rows, key_file):
    old_pages = {n for n in s3.fs.find(rows.part) if "/validations/" in n}
    run_all(_ctx(POLICY_PATH, *_roots(rows.ctx), "store-rerun"), load_key_ring(key_file))
    manifest = json.loads(s3.fs.cat_file(f"{rows.part}/{MANIFEST}"))
    assert manifest["run_id"] == "store-rerun" and manifest_digest(manifest) == EXPECTED[POLICY_PATH][1]
    assert _digest(s3.fs.cat_file(f"{rows.part}/{DATA_FILE}")) == EXPECTED[POLICY_PATH][0]
    # The first run's Data Docs pages (timestamped names) were deleted, not left beside.
    now = {n for n in s3.fs.find(rows.part) if "/validations/" in n}
    assert now and not (now & old_pages)
    assert not s3.fs.find("extracts/out/.staging")


def _folder(s3, prefix: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        s3.fs.pipe_file(f"{prefix}/{name}", data)


def _manifest_for(data: bytes, run: str) -> bytes:
    return json.dumps({"run_id": run, "files": [{"path": DATA_FILE, "sha256": _digest(data)}]}).encode()


def test_a_swap_that_dies_before_the_manifest_leaves_what_readers_can_detect(s3, monkeypatch):
    """No rename on a store: the new files go in first, the manifest last, stale files after.
    A death between leaves the previous manifest, whose digests no longer match the data:
    readers that trust only the manifest see the mismatch; the next swap completes."""
    from transforms.ops.exchange import swap_into_place
    from transforms.storage import location

    old, new = b"previous release", b"new release"
    _folder(s3, "extracts/swap/day=1", {DATA_FILE: old, MANIFEST: _manifest_for(old, "a"), "stale.html": b"x"})
    staged = {DATA_FILE: new, MANIFEST: _manifest_for(new, "b"), "_reports/r.html": b"r"}
    _folder(s3, "extracts/swap/.staging/1", staged)
    target, staging = location("s3://extracts/swap/day=1"), location("s3://extracts/swap/.staging/1")
    monkeypatch.setenv(CRASH_ENV, "publish.after_exchange.before_commit")
    with pytest.raises(InjectedCrash):
        swap_into_place(staging, target)
    manifest = json.loads(s3.fs.cat_file(f"extracts/swap/day=1/{MANIFEST}"))
    assert manifest["run_id"] == "a"  # still the previous release's manifest...
    assert manifest["files"][0]["sha256"] != _digest(s3.fs.cat_file(f"extracts/swap/day=1/{DATA_FILE}"))
    monkeypatch.delenv(CRASH_ENV)
    swap_into_place(staging, target)  # the next run stages again and swaps
    assert json.loads(s3.fs.cat_file(f"extracts/swap/day=1/{MANIFEST}"))["run_id"] == "b"
    assert sorted(n.removeprefix("extracts/swap/day=1/") for n in s3.fs.find("extracts/swap/day=1")) == sorted(staged)
    assert not s3.fs.find("extracts/swap/.staging")


def test_files_without_a_manifest_are_not_published(s3):
    """A first publish that died before its manifest: the index and the epoch state ignore it."""
    from transforms.context import Layout
    from transforms.reporting.html import write_index
    from transforms.reporting.manifest import read_manifest
    from transforms.storage import location

    layout = Layout(location("s3://extracts/half"))
    part = layout.partition("viewing_sessions", DAY.isoformat())
    (part / DATA_FILE).write_bytes(b"half a publish")
    assert read_manifest(part / MANIFEST) is None
    assert DAY.isoformat() not in write_index(layout, "viewing_sessions").read_text()


def _roots(ctx: RunContext) -> tuple[str, str, str, str | None]:
    return ctx.raw_root, ctx.out_root, ctx.work_root, ctx.quarantine_root


def test_the_audience_tables_on_the_store_are_the_recorded_bytes(s3, raw_on_s3, key_file):
    from transforms.cli import main

    args = ["run", "--policy", str(AUDIENCE_POLICY_PATH), "--day", str(DAY), "--raw-root", raw_on_s3]
    assert main([*args, "--out-root", "s3://extracts/audience", "--key-file", str(key_file)]) == 0
    part = f"extracts/audience/title_audience/day={DAY}"
    parquet, manifest_sha = AUDIENCE
    assert _digest(s3.fs.cat_file(f"{part}/{DATA_FILE}")) == parquet
    assert manifest_digest(json.loads(s3.fs.cat_file(f"{part}/{MANIFEST}"))) == manifest_sha


def test_the_day_lock_on_a_store_is_exclusive_and_a_dead_holder_is_taken_over(s3):
    from transforms.ops.locks import day_lock
    from transforms.storage import location

    lock = location("s3://extracts/locks-test/.locks/viewing_sessions-2026-11-23.lock")
    with day_lock(lock, "viewing_sessions", "2026-11-23"):
        held = json.loads(lock.read_text())
        # A second worker (not this process's nesting) cannot take it.
        other = location(str(lock))
        body = json.dumps({"holder": "other", "since": time.time()}).encode()
        from transforms.storage import create_exclusive

        assert not create_exclusive(other, body)
    assert not lock.exists()  # released
    lock.write_text(json.dumps({"holder": "worker-7:123", "since": time.time()}))
    with pytest.raises(RunInProgressError, match="worker-7:123"):
        with day_lock(lock, "viewing_sessions", "2026-11-23"):
            pass
    lock.write_text(json.dumps({"holder": "worker-7:123", "since": time.time() - 7 * 3600}))  # died hours ago
    with day_lock(lock, "viewing_sessions", "2026-11-23"):
        assert json.loads(lock.read_text())["holder"] != "worker-7:123"
    assert not lock.exists()
    assert held["holder"]


def test_spark_refuses_a_store_it_cannot_reach():
    from transforms.backends.spark import SparkBackend
    from transforms.storage import location

    with pytest.raises(StorageError, match="hadoop-aws"):
        SparkBackend.use_filesystem(None, location("s3://extracts/x").fs)


def test_the_dp_release_on_the_store_spends_once_and_a_rerun_publishes_the_same_bytes(s3, raw_on_s3, key_file, capsys):
    """The DP kind with its work root (the budget ledger) and extract root on the store."""
    dp = ROOT / "policies" / "title_audience_dp.yaml"
    ring = load_key_ring(key_file)
    run_all(_ctx(dp, raw_on_s3, "s3://extracts/dp", "s3://work-zone/dp", None, "dp-1"), ring)
    part = f"extracts/dp/title_audience_dp/day={DAY}"
    state = "work-zone/dp/title_audience_dp/_dp"
    first = s3.fs.cat_file(f"{part}/{DATA_FILE}")
    entries = sorted(s3.fs.find(f"{state}/entries"))
    assert [json.loads(s3.fs.cat_file(e))["kind"] for e in entries] == ["reserve", "release"]
    assert s3.fs.cat_file(f"{state}/releases/day={DAY}/{DATA_FILE}") == first  # published from the stored release
    # Only the private state stays in the work root (the run's work folder is deleted after publishing).
    assert {name.split("/")[3] for name in s3.fs.find("work-zone/dp")} == {"_dp"}
    run_all(_ctx(dp, raw_on_s3, "s3://extracts/dp", "s3://work-zone/dp", None, "dp-2"), ring)
    assert s3.fs.cat_file(f"{part}/{DATA_FILE}") == first
    assert sorted(s3.fs.find(f"{state}/entries")) == entries  # nothing spent again
    release = json.loads(s3.fs.cat_file(f"{part}/{MANIFEST}"))["release"]
    assert release["reused"] and release["spent_now"] == 0
    from transforms.cli import main

    capsys.readouterr()
    assert main(["budget", "--policy", str(dp), "--work-root", "s3://work-zone/dp", "--day", str(DAY)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ledger"] == f"s3://{state}/entries" and shown["nights_released"] == 1


def test_the_exports_turn_on_a_store_goes_to_one_night_at_a_time(s3):
    from transforms.orchestration import Turn

    ctx = {"out_root": "s3://extracts/turns", "day": "2026-11-23"}
    first = Turn.of({**ctx, "run_id": "night-23"}, "viewing_sessions")
    second = Turn.of({**ctx, "run_id": "night-24", "day": "2026-11-24"}, "viewing_sessions")
    assert first.take(lambda run: True) is None
    assert "night-23" in second.take(lambda run: True)  # the holder is running: wait
    assert second.take(lambda run: False) is None  # the holder died: taken over
    assert second.holder()["run_id"] == "night-24"
    second.release()
    assert second.holder() is None
    assert not s3.fs.find("extracts/turns/.locks")


def test_purge_on_a_store_removes_old_partitions_whole(s3):
    from datetime import date

    from transforms.stages.purge import purge
    from transforms.storage import location

    old, kept = "extracts/purge/viewing_sessions/day=2026-01-01", "extracts/purge/viewing_sessions/day=2026-11-20"
    for part in (old, kept):
        _folder(s3, part, {DATA_FILE: b"d", MANIFEST: b"{}", "_reports/privacy_report.html": b"r"})
    export_dir = location("s3://extracts/purge/viewing_sessions")
    result = purge(export_dir, location("s3://extracts/purge/.trash/viewing_sessions"), date(2026, 11, 23), 90)
    assert result.removed == [f"s3://{old}"] and result.files == 3
    assert not s3.fs.find(old) and len(s3.fs.find(kept)) == 3


def test_listings_are_never_served_from_a_stale_cache(s3):
    """Another worker's writes show at once: the epoch checks list the nights published so far."""
    from transforms.storage import location

    folder = location("s3://extracts/listing/_history")
    s3.fs.pipe_file("extracts/listing/_history/day=2026-11-21/meta.json", b"{}")
    assert [p.name for p in folder.iterdir()] == ["day=2026-11-21"]
    assert not (folder / "day=2026-11-22" / "meta.json").exists()
    s3.fs.pipe_file("extracts/listing/_history/day=2026-11-22/meta.json", b"{}")  # by another client
    assert [p.name for p in sorted(folder.iterdir())] == ["day=2026-11-21", "day=2026-11-22"]
    assert (folder / "day=2026-11-22" / "meta.json").exists()


def test_a_store_that_does_not_answer_is_a_clear_retryable_error(s3, tmp_path, key_file, monkeypatch):
    import s3fs

    from transforms.errors import StoreUnreachableError

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the client's own retries: a test needs none
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        ctx = _ctx(POLICY_PATH, "s3://raw-zone/in", str(tmp_path / "out"), str(tmp_path / "work"), None, "down")
        with pytest.raises(StoreUnreachableError, match="AWS_ENDPOINT_URL_S3") as caught:
            run_all(ctx, load_key_ring(key_file))
        assert caught.value.retryable
    finally:
        s3fs.S3FileSystem.clear_instance_cache()

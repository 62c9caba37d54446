"""The command line: exit codes, one-line errors, and a rerun that reproduces the extract."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

from tests.support import DAY, POLICY_PATH, ROOT, TEST_SECRET


def _run(args, env_extra=None, tmp_path=None):
    import os

    env = {k: v for k, v in os.environ.items() if k != "PSEUDONYMIZATION_SECRET"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "transforms", *args], capture_output=True, text=True, env=env, cwd=ROOT
    )


def test_missing_key_exits_nonzero_with_one_line(raw_day, tmp_path):
    r = _run(
        [
            "run",
            "--policy",
            str(POLICY_PATH),
            "--day",
            str(DAY),
            "--raw-root",
            str(raw_day),
            "--out-root",
            str(tmp_path),
        ]
    )
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no pseudonymization key")
    assert "Traceback" not in r.stderr


def test_bad_day_is_a_usage_error(raw_day, tmp_path):
    r = _run(
        [
            "run",
            "--policy",
            str(POLICY_PATH),
            "--day",
            "tomorrow",
            "--raw-root",
            str(raw_day),
            "--out-root",
            str(tmp_path),
        ]
    )
    assert r.returncode == 2 and "use YYYY-MM-DD" in r.stderr


def test_engine_flags_are_checked_before_anything_runs(raw_day, tmp_path):
    args = ["run", "--policy", str(POLICY_PATH), "--day", str(DAY), "--raw-root", str(raw_day)]
    args += ["--out-root", str(tmp_path)]
    r = _run([*args, "--engine", "flink"])
    assert r.returncode == 2 and "invalid choice: 'flink'" in r.stderr
    key = "base64:" + base64.b64encode(TEST_SECRET).decode()
    r = _run([*args, "--spark-remote", "sc://localhost:15002"], {"PSEUDONYMIZATION_SECRET": key})
    assert r.returncode == 2 and "--spark-remote needs --engine spark" in r.stderr
    assert not list(tmp_path.rglob("*.parquet"))


def test_run_twice_gives_the_same_extract(raw_day, tmp_path):
    key = tmp_path / "key"
    key.write_text("base64:" + base64.b64encode(TEST_SECRET).decode())
    digests = []
    for attempt in range(2):
        out = tmp_path / "out"
        r = _run(
            [
                "run",
                "--policy",
                str(POLICY_PATH),
                "--day",
                str(DAY),
                "--raw-root",
                str(raw_day),
                "--out-root",
                str(out),
                "--key-file",
                str(key),
                "--run-id",
                f"r{attempt}",
            ]
        )
        assert r.returncode == 0, r.stderr[-2000:]
        summary = json.loads(r.stdout)
        assert (
            summary["input_rows"]
            == summary["published_rows"] + summary["suppressed_rows"] + summary["rejected_rows"] + summary["minor_rows"]
        )
        part = out / "viewing_sessions" / f"day={DAY}" / "part-00000.parquet"
        digests.append(hashlib.sha256(part.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_generate_writes_the_contract_layout(tmp_path):
    r = _run(["generate", "--raw-root", str(tmp_path), "--day", str(DAY), "--events", "500", "--seed", "1"])
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "viewing_events" / f"dt={DAY}").glob("*.jsonl.gz"))
    assert list((tmp_path / "subscribers" / f"dt={DAY}").glob("*.parquet"))

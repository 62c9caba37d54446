"""Shared constants and helpers for the tests (fixtures live in tests/conftest.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 23)
# A fixed test key (32 bytes). Tests look for it, and its pads, in every output.
TEST_SECRET = bytes(range(100, 132))
POLICY_PATH = ROOT / "policies" / "viewing_sessions.yaml"
ROWS_POLICY_PATH = ROOT / "tests" / "support" / "policies" / "rows_only.yaml"
ADULT = ROOT.parent / "shared" / "datasets" / "adult"
CHECKER = ROOT / ".venv-checker" / "bin" / "python"


def raw_identifier_values(raw_root: Path, day: date = DAY) -> dict[str, set[str]]:
    """Every direct identifier value of the raw day, by column (for leak checks)."""
    import duckdb

    ev = str(raw_root / "viewing_events" / f"dt={day}" / "*.jsonl.gz")
    con = duckdb.connect()
    out: dict[str, set[str]] = {}
    for col in ("account_id", "profile_id", "profile_name", "email", "ip_address", "device_id", "event_id"):
        rows = con.execute(
            f"SELECT DISTINCT {col} FROM read_json(?, format='newline_delimited', ignore_errors=true, "
            "columns={'event_id':'VARCHAR','account_id':'VARCHAR','profile_id':'VARCHAR','profile_name':'VARCHAR',"
            "'email':'VARCHAR','ip_address':'VARCHAR','device_id':'VARCHAR'})",
            [ev],
        ).fetchall()
        out[col] = {r[0] for r in rows if r[0]}
    return out

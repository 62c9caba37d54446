"""Which day a run exports, and how the DAG finds its settings and key (no Airflow needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.support import POLICY_PATH
from transforms.errors import ExportError, KeyConfigError
from transforms.orchestration import build_context, discover_policies, key_ring_from_airflow, resolve_day


def test_param_day_wins():
    assert resolve_day("2026-01-02", datetime(2026, 5, 1, tzinfo=UTC), None) == date(2026, 1, 2)


def test_interval_start_is_the_day():
    assert resolve_day(None, datetime(2026, 11, 23, 0, 0, tzinfo=UTC), None) == date(2026, 11, 23)


def test_no_logical_date_exports_the_day_before_the_trigger():
    assert resolve_day(None, None, datetime(2026, 11, 24, 0, 30, tzinfo=UTC)) == date(2026, 11, 23)


def test_bad_param_day_is_explained():
    with pytest.raises(ExportError, match="use YYYY-MM-DD"):
        resolve_day("23/11/2026", None, None)


def test_context_reads_variables_with_defaults():
    seen = {}

    def get(name, default):
        seen[name] = default
        return {"viewing_export_raw_root": "/data/raw"}.get(name, default)

    ctx = build_context(POLICY_PATH, get, "2026-11-23", None, None, "manual__1")
    assert ctx.raw_root == "/data/raw" and ctx.day == "2026-11-23"
    assert set(seen) >= {"viewing_export_raw_root", "viewing_export_out_root", "viewing_export_work_root"}


def test_key_from_variable_then_connection():
    ring = key_ring_from_airflow(lambda n, d: None, lambda c: "c" * 32)
    assert ring.active.secret == b"c" * 32
    with pytest.raises(KeyConfigError, match="pseudonymization_secret"):
        key_ring_from_airflow(lambda n, d: None, lambda c: None)


def test_policies_are_discovered_lightly_and_a_broken_one_is_skipped(tmp_path, caplog):
    (tmp_path / "good.yaml").write_text(POLICY_PATH.read_text())
    (tmp_path / "broken.yaml").write_text("owner: x\n")  # no export name
    found = discover_policies(tmp_path)
    assert [h.dag_id for h in found] == ["viewing_sessions_export"]
    assert found[0].kind == "rows" and found[0].schedule == "0 3 * * *"
    assert "broken.yaml" in caplog.text

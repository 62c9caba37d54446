"""DuckDB's settings: the memory limit (configured, or derived from what the worker may use) and
the spooled intermediates (on disk in the stage's scratch, never left behind)."""

from __future__ import annotations

import pytest

from transforms.backends import base
from transforms.backends import duckdb as backend


def _machine(monkeypatch, tmp_path, physical: int | None, cgroup: str | None) -> None:
    monkeypatch.delenv("EXPORT_DUCKDB_MEMORY_LIMIT", raising=False)
    limit = tmp_path / "memory.max"
    if cgroup is not None:
        limit.write_text(cgroup + "\n")
    monkeypatch.setattr(base, "CGROUP_LIMITS", (str(limit),))
    if physical is None:
        monkeypatch.setattr(base.os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    else:
        pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": physical // 4096}
        monkeypatch.setattr(base.os, "sysconf", lambda name: pages[name])


def test_configured_limit_wins(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, physical=2 * 10**9, cgroup=None)
    monkeypatch.setenv("EXPORT_DUCKDB_MEMORY_LIMIT", "1GB")
    assert backend.memory_limit() == "1GB"


def test_large_machine_is_capped_at_4gb(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, physical=24 * 10**9, cgroup="max")  # v2: no container limit
    assert backend.memory_limit() == "4000MB"


def test_container_limit_is_read(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, physical=24 * 10**9, cgroup=str(3 * 10**9))
    assert base.usable_memory() == 3 * 10**9
    assert backend.memory_limit() == "1000MB"  # a third of the container's 3 GB


def test_small_worker_keeps_a_floor(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, physical=24 * 10**9, cgroup=str(512 * 10**6))
    assert backend.memory_limit() == "256MB"


def test_unknown_memory_falls_back_to_4gb(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, physical=None, cgroup=None)
    assert backend.memory_limit() == "4000MB"


def test_the_connection_uses_it(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, physical=24 * 10**9, cgroup=str(3 * 10**9))
    con = backend.connect()
    try:
        # DuckDB shows binary units: 1000 MB is 953.6 MiB.
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "953.6 MiB"
    finally:
        con.close()


def _spools(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("spool-*.parquet"))


def test_a_spool_is_a_parquet_file_in_the_scratch_until_unspooled(tmp_path):
    with backend.DuckDBBackend(tmp_path) as b:
        b.spool("numbers", [backend.Statement("t", "SELECT range AS n FROM range(1000)")])
        assert len(_spools(tmp_path)) == 1
        assert b.con.execute("SELECT count(*), sum(n) FROM numbers").fetchone() == (1000, 499500)
        b.unspool("numbers")
        assert _spools(tmp_path) == []
        assert not b.con.execute("SELECT * FROM duckdb_views() WHERE view_name = 'numbers'").fetchall()


def test_spools_left_behind_are_removed_when_the_engine_closes(tmp_path):
    b = backend.DuckDBBackend(tmp_path)
    b.spool("numbers", [backend.Statement("t", "SELECT range AS n FROM range(10)")])
    b.close()
    assert _spools(tmp_path) == []


def test_a_spooled_statement_keeps_its_join_sides_and_only_it(tmp_path):
    setting = "SELECT current_setting('disabled_optimizers') AS s"
    with backend.DuckDBBackend(tmp_path) as b:
        b.spool("seen", [backend.Statement("t", setting)])
        assert b.con.execute("SELECT s FROM seen").fetchone() == ("build_side_probe_side",)
        assert b.con.execute(setting).fetchone() == ("",)
        with pytest.raises(backend.InputError):
            b.spool("broken", [backend.Statement("t", "SELECT error('no') AS s")])
        assert b.con.execute(setting).fetchone() == ("",)
    assert _spools(tmp_path) == []  # a failed spool's file too


def test_two_engines_sharing_a_scratch_keep_their_own_spools(tmp_path):
    with backend.DuckDBBackend(tmp_path) as one, backend.DuckDBBackend(tmp_path) as two:
        one.spool("numbers", [backend.Statement("t", "SELECT range AS n FROM range(3)")])
        two.spool("numbers", [backend.Statement("t", "SELECT range AS n FROM range(5)")])
        one.unspool("numbers")
        assert two.con.execute("SELECT count(*) FROM numbers").fetchone() == (5,)


@pytest.mark.parametrize("run", ["fetch", "run"])
def test_a_duckdb_failure_on_a_value_does_not_quote_it(run):
    """A conversion error names the value it could not convert: it must not reach the message."""
    from transforms.backends.base import DataValueError, Statement

    with backend.DuckDBBackend() as b:
        bad = Statement("t", "SELECT CAST(x AS INTEGER) AS y FROM (VALUES ('jane.canary@example.org')) v(x)")
        with pytest.raises(DataValueError) as raised:
            getattr(b, run)([bad])
        assert "canary" not in str(raised.value) and "Conversion Error" in str(raised.value)


def test_memory_settings_read_in_bytes():
    # What each engine holds beside the search (the engine's memory check subtracts it).
    from transforms.backends.spark import jvm_bytes

    assert backend.setting_bytes("3.7 GiB") == int(3.7 * 2**30)
    assert backend.setting_bytes("953.6 MiB") == int(953.6 * 2**20)
    assert backend.setting_bytes("512 bytes") == 512
    assert jvm_bytes("2g") == 2 * 2**30 and jvm_bytes("512M") == 512 * 2**20 and jvm_bytes("1gb") == 2**30
    with pytest.raises(ValueError, match="not a JVM memory size"):
        jvm_bytes("two gigs")


def test_duckdb_holds_its_configured_pool(monkeypatch):
    monkeypatch.setenv("EXPORT_DUCKDB_MEMORY_LIMIT", "1GB")
    with backend.DuckDBBackend() as b:
        assert abs(b.held_memory() - 10**9) < 10**7  # DuckDB shows it rounded, in MiB

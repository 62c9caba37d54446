"""The engine returns the true optimum: checked against brute force over whole lattices.

The reference is written apart from the engine: numpy over the rows of `generalized` and
the lookups' labels, every node of the lattice, no pruning, its own cost computation.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pytest

from tests.support.runs import run_stages
from transforms.backends.duckdb import DuckDBBackend
from transforms.context import Views
from transforms.exports.rows import extract
from transforms.exports.rows import protect as rows_protect
from transforms.privacy.engine import Engine
from transforms.runtime import StageRun


@dataclass
class Small:
    ctx: object
    stats: dict


def brute_force(work, policy, k, limit, unit="rows", metric="loss", sensitive=None, min_l=0):
    """Every optimal node (ties included) and the optimal objective, by exhaustive numpy."""
    qis = policy.qi_columns
    con = duckdb.connect()
    extra = f", {sensitive}" if sensitive else ""
    frame = con.execute(
        f"SELECT viewer_id, {', '.join(q + '_id' for q in qis)}{extra} FROM read_parquet(?)", [str(work.generalized)]
    ).df()
    sens_codes = np.unique(frame[sensitive].to_numpy(), return_inverse=True)[1] if sensitive else None
    people_codes = np.unique(frame["viewer_id"].to_numpy(), return_inverse=True)[1]
    hier = policy.hierarchies()
    codes, costs = {}, {}
    for q in qis:
        lk = con.execute("SELECT * FROM read_parquet(?) ORDER BY id", [str(work.lookup(q))]).df()
        ids = frame[f"{q}_id"].to_numpy()
        n = len(lk)
        codes[q], costs[q] = [], []
        for lvl in range(hier[q].height):
            labels = lk[f"l{lvl}"].to_numpy()
            _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
            per_value = (counts[inverse] - 1) / (n - 1) if n > 1 else (labels == "*").astype(float)
            codes[q].append(inverse[ids])
            costs[q].append(per_value[ids])
    ranges = [qi.level_range(hier[qi.column]) for qi in policy.quasi_identifiers]
    total, results = len(frame), []
    for node in itertools.product(*(range(lo, hi + 1) for lo, hi in ranges)):
        key = np.zeros(total, dtype=np.int64)
        cost = np.zeros(total)
        for q, lvl in zip(qis, node, strict=True):
            key = key * (codes[q][lvl].max() + 1) + codes[q][lvl]
            cost += costs[q][lvl]
        cls = np.unique(key, return_inverse=True)[1]
        pairs = np.unique(cls * (people_codes.max() + 1) + people_codes)
        people = np.bincount(pairs // (people_codes.max() + 1), minlength=cls.max() + 1)
        small = people[cls] < k
        if min_l:
            sens_pairs = np.unique(cls * (sens_codes.max() + 1) + sens_codes)
            diversity = np.bincount(sens_pairs // (sens_codes.max() + 1), minlength=cls.max() + 1)
            small |= diversity[cls] < min_l
        suppressed = int(small.sum())
        if unit == "rows" and suppressed > limit * total:
            continue
        if unit == "people" and len(np.unique(people_codes[small])) > limit * (people_codes.max() + 1):
            continue
        loss = (cost[~small].sum() + suppressed * len(qis)) / (len(qis) * total)
        if metric == "discernibility":
            kept_sizes = np.bincount(cls[~small], minlength=cls.max() + 1)
            loss = float((kept_sizes.astype(float) ** 2).sum() + suppressed * total)
        results.append((loss, node))
    best = min(loss for loss, _ in results)
    return best, {node for loss, node in results if abs(loss - best) <= 1e-9 * max(1.0, abs(best))}


@pytest.fixture(scope="module")
def policy(rows_policy):
    """These tests check the row models (k in people, l-diversity, the search) against brute force."""
    return rows_policy


@pytest.fixture(scope="module")
def small(raw_day, tmp_path_factory, policy, ring):
    ctx, stats = run_stages(raw_day, tmp_path_factory.mktemp("small"), policy, ring, upto="generalize")
    work = ctx.work(policy.export)
    # 1,500 plays keep the brute force over all 1,296 nodes to a few seconds.
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM read_parquet(?) ORDER BY ALL LIMIT 1500) TO ? (FORMAT parquet)",
        [str(work.generalized), str(work.folder / "g.parquet")],
    )
    (work.folder / "g.parquet").replace(work.generalized)
    return Small(ctx, stats)


def with_privacy(policy, **update):
    return policy.model_copy(update={"privacy": policy.privacy.model_copy(update=update)})


def solve(small, policy):
    with DuckDBBackend() as b:
        rows_protect.register_inputs(b, policy, small.ctx.work(policy.export))
        return Engine(b, rows_protect.problem(policy, policy.hierarchies())).solve()


def protect(small, policy) -> dict:
    s = StageRun(small.ctx, policy, dict(small.stats))
    try:
        return rows_protect.run(s)
    finally:
        s.close()


def published(small, policy, stats, tmp_path):
    """Write the extract as the validate stage does; return a connection that sees it as `e`."""
    s = StageRun(small.ctx, policy, {**small.stats, "anonymize": stats})
    try:
        files = extract.write(s, tmp_path)
    finally:
        s.close()
    con = duckdb.connect()
    con.read_parquet([str(f) for f in files]).create_view("e")
    return con


@pytest.mark.parametrize(
    ("k", "limit", "unit"), [(2, 0.0, "rows"), (5, 0.05, "rows"), (10, 0.25, "rows"), (5, 0.1, "people")]
)
def test_search_finds_the_brute_force_optimum(small, policy, k, limit, unit):
    p = with_privacy(policy, k=k, suppression_limit=limit, suppression_unit=unit)
    expected_loss, optimal_nodes = brute_force(small.ctx.work(p.export), p, k, limit, unit)
    found = solve(small, p)
    assert found.best.loss == pytest.approx(expected_loss, abs=1e-9)
    assert found.best.levels in optimal_nodes
    assert found.evaluated < found.lattice_size  # pruning did work


def test_applied_output_meets_k_in_people(small, policy, tmp_path):
    result = protect(small, policy)
    rel = published(small, policy, result, tmp_path)
    qis = ", ".join(policy.qi_columns)
    worst = rel.execute(f"SELECT min(n) FROM (SELECT count(DISTINCT viewer_id) AS n FROM e GROUP BY {qis})")
    assert worst.fetchone()[0] >= policy.privacy.k
    assert rel.execute("SELECT count(*) FROM e").fetchone()[0] == result["published_rows"]
    assert result["published_rows"] + result["suppressed_rows"] == result["input_rows"]
    rare = rel.execute(
        f"SELECT count(*) FROM (SELECT title_id FROM e WHERE title_id <> '*' "
        f"GROUP BY 1 HAVING count(DISTINCT viewer_id) < {policy.privacy.k})",
    )
    assert rare.fetchone()[0] == 0
    gated = rel.execute("SELECT count(*) FROM e WHERE title_id = '*' AND title_name = '*'").fetchone()[0]
    assert gated == result["gated_rows"]["title_id"] > 0


def test_stable_levels_keep_last_night_while_feasible(small, policy, monkeypatch):
    stable = with_privacy(policy, stable_levels=True)
    coarse = {
        "age_band": "*",
        "gender": "*",
        "plan": "*",
        "location": "country",
        "device_class": "*",
        "part_of_day": "*",
        "watch_time_bucket": "*",
    }
    finest = {
        "age_band": "5y",
        "gender": "value",
        "plan": "value",
        "location": "city",
        "device_class": "class",
        "part_of_day": "3h",
        "watch_time_bucket": "fine",
    }

    class Night:
        def __init__(self, levels):
            self.levels = levels

    monkeypatch.setattr(rows_protect, "previous_manifest", lambda *a: Night(coarse))
    kept = protect(small, stable)
    assert kept["levels"] == coarse and kept["levels_source"] == "previous_night"
    monkeypatch.setattr(rows_protect, "previous_manifest", lambda *a: Night(finest))
    searched = protect(small, stable)
    assert searched["levels_source"] == "search" and searched["levels"] != finest


def test_reported_measures_match_the_published_file(small, policy, tmp_path):
    result = protect(small, policy)
    rel = published(small, policy, result, tmp_path)
    qis = ", ".join(policy.qi_columns)
    classes = rel.execute(f"SELECT count(DISTINCT viewer_id) AS people, count(*) AS n FROM e GROUP BY {qis}").df()
    assert result["classes"] == len(classes)
    assert result["min_class_people"] == classes["people"].min()
    assert result["risk_after"]["highest"] == pytest.approx(1 / classes["people"].min(), abs=1e-6)
    assert result["discernibility"] == float(
        (classes["n"] ** 2).sum() + result["suppressed_rows"] * result["input_rows"]
    )
    assert sum(result["class_size_histogram"].values()) == result["classes"]
    # l-diversity of the published titles, computed here from the file (after gating).
    distinct = rel.execute(f"SELECT min(l) FROM (SELECT count(DISTINCT title_id) AS l FROM e GROUP BY {qis})")
    assert result["l_diversity"] == {
        **result["l_diversity"],
        "attribute": "title_id",
        "distinct_l": distinct.fetchone()[0],
    }
    assert 0 < result["loss"] < 1 and 0 < result["precision"] <= 1
    by_attribute = list(result["loss_by_attribute"].values())
    assert sum(by_attribute) / len(by_attribute) == pytest.approx(result["loss"], abs=1e-6)


def test_discernibility_objective_is_exact(small, policy):
    p = with_privacy(policy, metric="discernibility")
    expected, optimal_nodes = brute_force(
        small.ctx.work(p.export), p, p.privacy.k, p.privacy.suppression_limit, metric="discernibility"
    )
    found = solve(small, p)
    assert found.best.loss == pytest.approx(expected) and found.best.levels in optimal_nodes


def test_l_diversity_is_enforced_exactly(small, policy, tmp_path):
    p = with_privacy(policy, sensitive="content_type", l=2, suppression_limit=0.3)
    expected, optimal_nodes = brute_force(
        small.ctx.work(p.export), p, p.privacy.k, 0.3, sensitive="content_type", min_l=2
    )
    found = solve(small, p)
    assert found.best.loss == pytest.approx(expected, abs=1e-9) and found.best.levels in optimal_nodes
    result = protect(small, p)
    rel = published(small, p, result, tmp_path)
    qis = ", ".join(p.qi_columns)
    distinct = rel.execute(f"SELECT min(l) FROM (SELECT count(DISTINCT content_type) AS l FROM e GROUP BY {qis})")
    assert result["l_diversity"]["distinct_l"] == distinct.fetchone()[0] >= 2


def test_an_infeasible_policy_is_refused_with_a_fix(small, policy):
    from transforms.errors import PrivacyError

    impossible = with_privacy(policy, k=100_000, suppression_limit=0.0)
    with pytest.raises(PrivacyError, match="lower k, raise the limit"):
        protect(small, impossible)


def test_engine_reads_views_not_files(small, policy):
    """The engine sees only the views a stage registers (the seam a second engine implements)."""
    with DuckDBBackend() as b:
        rows_protect.register_inputs(b, policy, small.ctx.work(policy.export))
        assert {name for name, _ in b.columns(Views.GENERALIZED)} >= {"viewer_id", "age_band_id"}


def test_a_night_too_large_for_the_worker_is_refused_before_it_is_read(small, policy, monkeypatch, caplog):
    """The search holds the frequency table in memory: a table that would not fit the worker
    is refused with what it needs and has, before this process reads any of it (a worker out
    of memory is killed without a message)."""
    import logging

    from transforms.errors import CapacityError
    from transforms.privacy import engine as engine_module

    fetched: list[str] = []
    real_fetch = DuckDBBackend.fetch

    def fetch(self, statements, large=False):
        if large:  # the frequency table is the search's only large read
            fetched.extend(s.step for s in self.statements(statements))
        return real_fetch(self, statements, large)

    monkeypatch.setattr(DuckDBBackend, "fetch", fetch)
    monkeypatch.setattr(DuckDBBackend, "held_memory", lambda self: 10**9)
    monkeypatch.setattr(engine_module, "usable_memory", lambda: 3 * 10**9)  # 2 GB left for the search
    monkeypatch.setattr(engine_module, "SEARCH_BYTES_PER_ROW", {"rows": 10**6, "history": 10**6})
    monkeypatch.setenv("EXPORT_ENGINE_CACHE_MB", "1000")
    monkeypatch.delenv("EXPORT_ENGINE_MEMORY_CHECK", raising=False)
    # 1 GB + 1 MB per row: 1,000 rows fit the 2 GB left, the 1,500-play night's table does not.
    caplog.set_level(logging.INFO, logger="transforms.privacy.engine")
    with pytest.raises(CapacityError) as err:
        solve(small, policy)
    text = str(err.value)
    assert "rows (people x finest codes)" in text and "2.0 GB" in text and "EXPORT_ENGINE_MEMORY_CHECK" in text
    assert not CapacityError.retryable
    assert not fetched  # refused before the table was read
    assert any("the search needs about" in r.getMessage() for r in caplog.records)
    # Nothing of the data in the message: only counts and sizes.
    assert not re.search(r"[0-9a-f]{16,}", text)

    monkeypatch.setenv("EXPORT_ENGINE_MEMORY_CHECK", "off")  # the operator's way past it
    assert solve(small, policy).best is not None
    monkeypatch.delenv("EXPORT_ENGINE_MEMORY_CHECK")
    monkeypatch.setattr(engine_module, "usable_memory", lambda: 24 * 10**9)
    assert solve(small, policy).best is not None


def test_the_search_memory_estimate_grows_with_the_table():
    from transforms.privacy.engine import search_memory

    for history in (False, True):
        small_night, large_night = search_memory(10**6, history), search_memory(10**8, history)
        assert 0 < small_night < large_night
    assert search_memory(10**7, True) > search_memory(10**7, False)  # the history's pairs and sets

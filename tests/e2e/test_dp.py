"""The differentially private audience release (`protection: dp`) end to end, on generated
nights of one population: public keys only, error bounds, the multi-night window, the budget
ledger (refusal before noise, reruns that return the stored bytes, crashes that neither lose a
spend nor publish twice), and contributions bounded before any noise."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from tests.support import ROOT
from tests.support.runs import context, run_stages
from transforms.config.policy import load_policy
from transforms.errors import PolicyError, PrivacyError
from transforms.ops.faults import ENV, InjectedCrash
from transforms.pipeline import run_all

POLICY = ROOT / "policies" / "title_audience_dp.yaml"
FIRST = date(2026, 11, 20)
NIGHTS = [FIRST + timedelta(days=i) for i in range(3)]

pytestmark = pytest.mark.slow


def dp_policy(folder: Path, **dp_changes) -> Path:
    """The shipped DP policy with a 3-night window (and other changes), beside its reference."""
    data = yaml.safe_load(POLICY.read_text())
    data["dp"].update({"window_nights": 3, **dp_changes})
    path = folder / "policy" / "dp.yaml"
    (path.parent / "reference").mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    reference = POLICY.parent / "reference" / "geo_cities.csv"
    (path.parent / "reference" / "geo_cities.csv").write_text(reference.read_text())
    return path


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    from devtools.fake_logs import generate_days

    root = tmp_path_factory.mktemp("dp-raw")
    generate_days(root, FIRST - timedelta(days=1), len(NIGHTS) + 1, 3000, seed=11)  # and the night before, to backfill
    return root


def _ctx(raw, tmp, policy_path, day, run_id="r1"):
    return context(raw, tmp, load_policy(policy_path), run_id=run_id, day=day)


def _partition(tmp, day) -> Path:
    return tmp / "out" / "title_audience_dp" / f"day={day}"


def _ledger(tmp, export: str = "title_audience_dp") -> list[dict]:
    path = tmp / "work" / export / "_dp" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def three_nights(raw, tmp_path_factory, ring):
    tmp = tmp_path_factory.mktemp("dp-run")
    policy = dp_policy(tmp)
    for day in NIGHTS:
        run_all(_ctx(raw, tmp, policy, day), ring)
    return {"tmp": tmp, "policy": policy}


def test_only_public_keys_with_error_bounds_and_the_window_once_it_is_full(three_nights, raw):
    tmp = three_nights["tmp"]
    last = NIGHTS[-1]
    table = pq.read_table(_partition(tmp, last) / "part-00000.parquet")
    assert table.column_names == ["title_id", "title_name", "location", "grouping", "measure", "value", "error_95"]
    rows = table.to_pylist()
    catalogue = set(
        pq.read_table(next((raw / "titles" / f"dt={last}").glob("*.parquet"))).column("title_id").to_pylist()
    )
    assert rows and {r["title_id"] for r in rows} <= catalogue
    assert all(r["value"] >= 0 and r["error_95"] > 0 for r in rows)
    assert {r["measure"] for r in rows} >= {"viewers", "plays", "watch_hours", "viewers_last_3_nights"}
    # A value below its own error bound is left out (post-processing), so none is published.
    assert all(r["value"] >= r["error_95"] for r in rows if r["measure"] in ("viewers", "viewers_last_3_nights"))
    first = json.loads((_partition(tmp, NIGHTS[0]) / "_manifest.json").read_text())["release"]
    m = json.loads((_partition(tmp, last) / "_manifest.json").read_text())["release"]
    assert first["window_measures"].startswith("not published")
    assert m["window_measures"].startswith("published over the 3 nights")
    assert m["spent_now"] == m["rho_night"] <= 0.25 and not m["reused"]
    assert m["window_spent"] == pytest.approx(sum(e["rho"] for e in _ledger(tmp) if e["kind"] == "reserve"))
    assert [e["kind"] for e in _ledger(tmp)] == ["reserve", "release"] * 3
    # Pseudonyms stay in the private work zone: the window pairs, never the partition.
    assert (tmp / "work" / "title_audience_dp" / "_dp" / "window" / f"day={last}.key=t1.parquet").exists()
    assert "viewer_id" not in table.column_names
    report = (_partition(tmp, last) / "_reports" / "privacy_report.html").read_text()
    assert "Differential privacy" in report and "95% error" in report and "budget left" in report


def test_exact_counts_stay_private_and_reconcile(three_nights):
    """An exact count beside a DP release tells whether one person's plays are in the data: the
    manifest and report carry none; the private accounting file has them, and they add up."""
    tmp, day = three_nights["tmp"], NIGHTS[-1]
    manifest = json.loads((_partition(tmp, day) / "_manifest.json").read_text())
    assert manifest["counts"] is None
    assert manifest["minors"]["rows_dropped"] is None and manifest["self_test"]["values_tested"] is None
    a = json.loads((tmp / "work" / "title_audience_dp" / "_dp" / "accounting" / f"day={day}.json").read_text())
    assert a["input_rows"] == a["rejected_rows"] + a["minor_rows"] + a["plays_in"]
    assert a["plays_in"] == a["plays_not_in_catalogue"] + a["plays_over_bounds"] + a["plays_counted"]
    assert a["plays_over_bounds"] > 0 and a["people_counted"] > 0
    report = (_partition(tmp, day) / "_reports" / "privacy_report.html").read_text()
    for figure in (a["input_rows"], a["plays_counted"], a["people_in"]):
        assert f"{figure:,}" not in report and f">{figure}<" not in report


def test_a_rerun_returns_the_stored_release_byte_for_byte_and_spends_nothing(three_nights, raw, ring):
    tmp, policy = three_nights["tmp"], three_nights["policy"]
    day = NIGHTS[1]
    before = hashlib.sha256((_partition(tmp, day) / "part-00000.parquet").read_bytes()).hexdigest()
    ledger = _ledger(tmp)
    run_all(_ctx(raw, tmp, policy, day, run_id="again"), ring)
    after = hashlib.sha256((_partition(tmp, day) / "part-00000.parquet").read_bytes()).hexdigest()
    assert after == before
    assert _ledger(tmp) == ledger
    m = json.loads((_partition(tmp, day) / "_manifest.json").read_text())["release"]
    assert m["reused"] and m["spent_now"] == 0


def test_a_night_over_the_budget_is_refused_before_any_noise(raw, tmp_path, ring):
    policy = dp_policy(tmp_path, budget={"rho": 0.6, "window_nights": 30})
    for day in NIGHTS[:2]:
        run_all(_ctx(raw, tmp_path, policy, day), ring)
    ledger = _ledger(tmp_path)
    with pytest.raises(PrivacyError, match=r"privacy budget exceeded.*no noise was drawn"):
        run_all(_ctx(raw, tmp_path, policy, NIGHTS[2]), ring)
    assert _ledger(tmp_path) == ledger
    assert not _partition(tmp_path, NIGHTS[2]).exists()
    # A backfill of an earlier night spends from the same windows: refused too.
    with pytest.raises(PrivacyError, match="privacy budget exceeded"):
        run_all(_ctx(raw, tmp_path, policy, NIGHTS[0] - timedelta(days=1)), ring)


def test_a_crash_after_reserving_keeps_the_spend_and_publishes_once(raw, tmp_path, ring, monkeypatch):
    policy = dp_policy(tmp_path)
    day = NIGHTS[0]
    monkeypatch.setenv(ENV, "dp.after_reserve")
    with pytest.raises(InjectedCrash):
        run_all(_ctx(raw, tmp_path, policy, day, run_id="crashing"), ring)
    assert [e["kind"] for e in _ledger(tmp_path)] == ["reserve"]
    assert not _partition(tmp_path, day).exists()
    monkeypatch.delenv(ENV)
    run_all(_ctx(raw, tmp_path, policy, day, run_id="next"), ring)
    assert [e["kind"] for e in _ledger(tmp_path)] == ["reserve", "release"]  # spent once
    m = json.loads((_partition(tmp_path, day) / "_manifest.json").read_text())["release"]
    assert m["spent_now"] == 0 and not m["reused"]  # the crashed run's reservation covered the draw


def test_one_person_moves_each_vector_by_at_most_its_sensitivity(raw, tmp_path, ring):
    """Exact (noise-free) vectors with and without the heaviest viewer of the night differ by at
    most the L2 sensitivity the noise is calibrated to: the bounds hold before any noise."""
    from transforms.backends import sql
    from transforms.backends.duckdb import DuckDBBackend
    from transforms.context import Views
    from transforms.exports.dp import protect

    policy = load_policy(dp_policy(tmp_path))
    ctx, _ = run_stages(raw, tmp_path, policy, ring, upto="generalize", day=NIGHTS[0])
    work = ctx.work(policy.export)
    d = policy.dp
    by_measure = {v["measure"]: v["sensitivity"] for v in protect.vectors(policy, False) if v["grouping"] == "title_id"}
    hierarchies = policy.hierarchies()

    def exact(without: str | None) -> dict[str, np.ndarray]:
        with DuckDBBackend() as b:
            b.register_parquet("all_plays", work.generalized)
            where = "" if without is None else f"WHERE viewer_id <> '{without}'"  # a pseudonym: hex and a colon
            b.con.execute(f"CREATE VIEW {Views.GENERALIZED} AS SELECT * FROM all_plays {where}")
            for qi in policy.qi_columns:
                b.register_parquet(Views.lookup(qi), work.lookup(qi))
            titles = pq.read_table(work.catalogue, columns=["title_id", "title_name"])
            b.register_arrow(
                "dp_titles",
                titles.group_by("title_id")
                .aggregate([("title_name", "min")])
                .rename_columns(["title_id", "title_name"]),
            )
            b.run(
                sql(
                    "dp_person_titles",
                    {"max_plays": d.max_plays_per_title, "max_seconds": round(d.max_watch_hours_per_title * 3600)},
                    source=Views.GENERALIZED,
                    person="viewer_id",
                    title="title_id",
                    title_level=hierarchies["title_id"].level_index("title"),
                    country="location",
                    country_level=hierarchies["location"].level_index("country"),
                    seconds="watch_seconds",
                )
            )
            t = b.fetch(sql("dp_vectors", {"max_titles": d.max_titles_per_night}, by_country=False))
            return {c: t.column(c).to_numpy().astype(float) for c in ("viewers", "plays", "seconds")}

    with DuckDBBackend() as b:
        b.register_parquet("g", work.generalized)
        heavy, plays = b.con.execute(
            "SELECT viewer_id, count(*) n FROM g GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
        ).fetchone()
    assert plays > d.max_plays_per_title  # the night has someone over the bounds
    full, without = exact(None), exact(heavy)
    for name, column in (("viewers", "viewers"), ("plays", "plays"), ("watch_hours", "seconds")):
        moved = float(np.linalg.norm(full[column] - without[column]))
        assert 0 < moved <= by_measure[name] + 1e-9, name


def test_a_window_never_mixes_keys(raw, tmp_path, ring):
    """After a key rotation one person has two pseudonyms: a window across it would count them
    twice and break the sensitivity, so the multi-night measures wait for the window to refill."""
    from transforms.ops.keys import Key, KeyRing

    policy = dp_policy(tmp_path)
    run_all(_ctx(raw, tmp_path, policy, NIGHTS[0]), ring)
    rotated = KeyRing("t2", {"t2": Key("t2", b"r" * 32)})
    for day in NIGHTS[1:]:
        run_all(_ctx(raw, tmp_path, policy, day), rotated)
    m = json.loads((_partition(tmp_path, NIGHTS[-1]) / "_manifest.json").read_text())["release"]
    assert m["window_measures"].startswith(
        "not published: 1 of the 2 earlier nights have no state under the active key"
    )
    assert all(not x["measure"].startswith("viewers_last") for x in m["measures"])


def test_a_lost_ledger_never_draws_a_second_release(raw, tmp_path, ring):
    """Published releases the ledger does not know (a lost or different work root): refused
    before any noise, so no night is released twice (readers could average the two)."""
    policy = dp_policy(tmp_path)
    run_all(_ctx(raw, tmp_path, policy, NIGHTS[0]), ring)
    other = context(raw, tmp_path, load_policy(policy), run_id="elsewhere", day=NIGHTS[0])
    other = type(other)(**{**other.to_dict(), "work_root": str(tmp_path / "fresh-work")})
    with pytest.raises(PrivacyError, match="does not record"):
        run_all(other, ring)
    later = type(other)(**{**other.to_dict(), "day": NIGHTS[1].isoformat()})
    with pytest.raises(PrivacyError, match="earlier nights"):
        run_all(later, ring)
    assert not (tmp_path / "fresh-work" / "title_audience_dp" / "_dp" / "ledger.jsonl").exists()


def test_a_second_dp_export_on_the_same_data_is_refused(raw, tmp_path, ring):
    """Each export keeps its own ledger: a renamed copy of the policy would spend a second
    budget on the same people and draw fresh noise for the same night. Refused before noise."""
    policy = dp_policy(tmp_path)
    run_all(_ctx(raw, tmp_path, policy, NIGHTS[0]), ring)
    renamed = yaml.safe_load(policy.read_text())
    renamed["export"] = "title_audience_dp_v2"
    copy = policy.with_name("dp_v2.yaml")
    copy.write_text(yaml.safe_dump(renamed))
    with pytest.raises(PrivacyError, match="already spends budget"):
        run_all(_ctx(raw, tmp_path, copy, NIGHTS[0], run_id="v2"), ring)
    assert _ledger(tmp_path, "title_audience_dp_v2") == []  # nothing spent
    assert not (tmp_path / "out" / "title_audience_dp_v2").exists()


def test_a_dp_policy_needs_one_pseudonym_per_person(tmp_path):
    path = dp_policy(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["pseudonym"]["epoch"] = "day"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PolicyError, match=r"pseudonym\.epoch must be none"):
        load_policy(path)


def test_a_changed_budget_is_said_in_the_report(raw, tmp_path, ring):
    run_all(_ctx(raw, tmp_path, dp_policy(tmp_path), NIGHTS[0]), ring)
    raised = dp_policy(tmp_path, budget={"rho": 9.0, "window_nights": 30})
    run_all(_ctx(raw, tmp_path, raised, NIGHTS[1]), ring)
    release = json.loads((_partition(tmp_path, NIGHTS[1]) / "_manifest.json").read_text())["release"]
    assert release["budget_note"] == (
        "earlier nights were released under another budget (rho 7.5 per 30 nights); "
        "the policy now says rho 9 per 30 nights"
    )
    assert "Budget changed" in (_partition(tmp_path, NIGHTS[1]) / "_reports" / "privacy_report.html").read_text()
    # A rerun of the first night under the changed policy returns its stored release, and says
    # that its figures are the earlier policy's.
    run_all(_ctx(raw, tmp_path, raised, NIGHTS[0], run_id="again"), ring)
    manifest = json.loads((_partition(tmp_path, NIGHTS[0]) / "_manifest.json").read_text())
    assert manifest["release"]["reused"]
    assert manifest["release"]["release_policy_digest"] != manifest["policy"]["digest"]
    report = (_partition(tmp_path, NIGHTS[0]) / "_reports" / "privacy_report.html").read_text()
    assert "drawn under an earlier version of the policy" in report

"""The manifest: typed, versioned, written once; readers tolerate nights written before versioning."""

from __future__ import annotations

import json

from transforms.context import Layout
from transforms.reporting.manifest import VERSION, Manifest, previous_manifest, read_manifest, write_manifest


def sample(**changes) -> dict:
    data = {
        "export": "viewing_sessions",
        "day": "2026-11-23",
        "run_id": "r1",
        "created_at": "2026-11-24T03:00:00+00:00",
        "policy": {"file": "viewing_sessions.yaml", "digest": "sha256:" + "0" * 64},
        "pseudonym": {
            "column": "viewer_id",
            "key_id": "k1",
            "recipient": "analytics",
            "epoch": "none",
            "epoch_label": "",
        },
        "k": 5,
        "suppression_limit": 0.1,
        "quasi_identifiers": ["gender"],
        "levels": {"gender": "value"},
        "anonymization": {
            "objective": "loss",
            "levels_source": "search",
            "loss": 0.1,
            "precision": 0.0,
            "discernibility": 10.0,
            "suppression_unit": "rows",
            "suppressed_rows_share": 0.01,
            "people_with_suppressed_rows": 1,
            "risk_before": {"highest": 1.0, "average": 0.5},
            "risk_after": {"highest": 0.2, "average": 0.1},
            "l_diversity": {},
            "loss_by_attribute": {"gender": 0.1},
            "class_size_histogram": {"5": 1},
            "metrics": "m",
        },
        "search": {"evaluated": 1, "lattice": 2, "seconds": 0.1},
        "columns": ["viewer_id", "gender"],
        "counts": {
            "input_rows": 100,
            "published_rows": 90,
            "suppressed_rows": 1,
            "rejected_rows": 9,
            "rejected_by_reason": {"bad_country": 9},
            "people_in": 20,
            "people_published": 19,
            "people_fully_suppressed": 1,
            "classes": 3,
            "min_class_people": 5,
            "avg_class_people": 6.3,
            "gated_values": {},
            "gated_rows": {},
        },
        "self_test": {"values_tested": 10, "forms_tested": 100, "published_values": 30, "hits": 0},
        "validation": {"success": True, "expectations": 50, "suites": {"x": True}, "data_docs": "d"},
        "stage_seconds": {"pull": 1.0},
    }
    data.update(changes)
    return data


def test_written_manifest_lists_files_with_digests_and_reads_back(tmp_path):
    (tmp_path / "part-00000.parquet").write_bytes(b"data")
    path = write_manifest(tmp_path, Manifest.model_validate(sample()))
    raw = json.loads(path.read_text())
    assert raw["manifest_version"] == VERSION and raw["kind"] == "rows"
    assert raw["files"] == [
        {
            "path": "part-00000.parquet",
            "bytes": 4,
            "sha256": "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7",
        }
    ]
    back = read_manifest(path)
    assert back is not None and back.counts.unaccounted == 0 and back.passed()


def test_a_manifest_from_before_versioning_is_still_read(tmp_path):
    part = tmp_path / "viewing_sessions" / "day=2026-11-22"
    part.mkdir(parents=True)
    (part / "_manifest.json").write_text(json.dumps(sample(day="2026-11-22")))  # no version, no kind
    from datetime import date

    earlier = previous_manifest(Layout(tmp_path), "viewing_sessions", date(2026, 11, 23))
    assert earlier is not None and earlier.manifest_version == 0 and earlier.levels == {"gender": "value"}


def test_an_unreadable_manifest_is_ignored_not_fatal(tmp_path):
    path = tmp_path / "_manifest.json"
    path.write_text("{not json")
    assert read_manifest(path) is None
    assert read_manifest(tmp_path / "missing.json") is None


def test_a_group_suppression_hits_far_harder_than_the_night_is_a_warning():
    from transforms.reporting.manifest import uneven_groups

    by_value = {
        "age_band": [
            {"value": "35-54", "plays": 5000, "suppressed": 100, "share": 0.02},
            {"value": "75+", "plays": 600, "suppressed": 420, "share": 0.7},
            {"value": "<13", "plays": 50, "suppressed": 50, "share": 1.0},  # too small to judge
        ],
        "gender": [{"value": "F", "plays": 3000, "suppressed": 150, "share": 0.05}],
    }
    warnings = uneven_groups(by_value, overall=0.05)
    assert warnings == [
        "suppression hits age_band unevenly: 75+: 70% of 600 plays suppressed, against 5.0% overall; "
        "compare age_band groups with care (report: Suppression by group)"
    ]
    assert uneven_groups(by_value, overall=0.5) == []


def test_an_audience_manifest_withholds_people_counts_below_the_threshold():
    """A count of people is a cohort: below min_viewers it is withheld, with what gives it back."""
    from transforms.exports.aggregate.report import _people_figures

    assert _people_figures(500, 497, 10) == {"in": 500, "published": None, "hidden": None, "share": None}
    assert _people_figures(500, 480, 10) == {"in": 500, "published": 480, "hidden": 20, "share": 0.96}
    assert _people_figures(500, 500, 10)["hidden"] == 0
    assert _people_figures(7, 7, 10) == {"in": None, "published": None, "hidden": None, "share": None}


def test_the_history_card_says_at_least_for_a_bounded_risk_figure():
    """Past the enumeration budget a risk figure is a lower bound: the card must not state it as exact."""
    from transforms.exports.rows.report import _history_card

    def risk(share: float, exact: bool) -> dict:
        return {"people": 100, "unique": share, "below_k": share, "exact": exact}

    history = {
        "m": 2,
        "epoch": "day",
        "epoch_nights": [],
        "person_attributes": ["gender"],
        "play_attributes": ["title_id"],
        "title_level": "genre",
        "plays_by_title_level": {},
        "titles_generalized_above_level": 0,
        "title_codes_published": 1,
        "plays_not_in_catalogue": 0,
        "suppressed_rows_for_history": 0,
        "suppressed_rows_for_row_k": 0,
        "risk": {"m3": {"before": risk(0.9, True), "after": risk(0.0, False)}},
        "linkage": None,
        "resists": "r",
        "does_not_resist": [],
    }
    card = "".join(_history_card(Manifest.model_validate(sample(history=history))))
    assert "at least 0.0%" in card and "was 90.0%" in card


def test_a_finer_level_that_would_lose_less_is_not_called_worse():
    """With stable_levels the search keeps last night's levels: a finer neighbour can then be
    feasible and better, and the report must say so instead of "loses more information"."""
    from transforms.exports.rows.report import finer_text

    finer = {"level": "5y", "feasible": True, "exact": True, "objective": 0.643, "suppressed_share": 0.01}
    text = finer_text(finer, 0.1, 0.929)
    assert "loses less information (0.643 against 0.929)" in text and "stable_levels" in text
    assert "loses more" in finer_text({**finer, "objective": 0.95}, 0.1, 0.929)


def test_with_a_limit_in_people_the_share_against_it_is_of_people(tmp_path):
    """The limit counts people with a suppressed row: the warning and the card must compare
    that share with it, not the share of rows."""
    from transforms.reporting.manifest import warnings as night_warnings

    data = sample()
    data["anonymization"] = {**data["anonymization"], "suppression_unit": "people", "people_with_suppressed_rows": 9}
    m = Manifest.model_validate(data)  # 1% of rows, 9 of 20 people (45%)
    assert m.suppressed_share == 0.45
    layout = Layout(tmp_path / "out", tmp_path / "work")
    assert any("suppression used 45.0% of the 10% limit" in w for w in night_warnings(layout, m, 0.1))

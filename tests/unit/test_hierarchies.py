"""Hierarchy operators: labels per level written out, domains, and the ARX file format."""

from __future__ import annotations

import pytest

from tests.support import ADULT
from transforms.privacy.hierarchies.arx import ArxOperator
from transforms.privacy.hierarchies.intervals import IntervalsOperator, IntervalsSpec
from transforms.privacy.hierarchies.prefix import PrefixOperator, PrefixSpec


@pytest.fixture(scope="module")
def h(policy):
    return policy.hierarchies()


def test_age_bands(h):
    assert h["age_band"].labels(37) == ["37", "35-39", "35-44", "35-54", "*"]
    assert h["age_band"].labels(80) == ["80", "80+", "75+", "75+", "*"]
    # The minors rule (under 16) merges the bands at or below 16: children share `<18` with 16-17.
    assert h["age_band"].labels(9) == ["9", "<18", "<18", "<18", "*"]
    assert h["age_band"].labels(16) == ["16", "<18", "<18", "<18", "*"]
    assert h["age_band"].labels(18) == ["18", "18-19", "18-24", "18-34", "*"]
    assert h["age_band"].labels(None) == ["unknown", "unknown", "unknown", "unknown", "*"]


def test_age_domain_is_every_label_the_level_can_produce(h):
    assert h["age_band"].domain(3) == ["<18", "18-34", "35-54", "55-74", "75+", "unknown"]
    assert h["age_band"].domain(0) is None


def test_part_of_day_and_watch_buckets(h):
    assert h["part_of_day"].labels(21) == ["21", "21-23", "evening", "*"]
    assert h["part_of_day"].labels(5) == ["5", "03-05", "night", "*"]
    assert h["watch_time_bucket"].labels(59) == ["59", "<1m", "<5m", "*"]
    assert h["watch_time_bucket"].labels(7200) == ["7200", "2h+", "2h+", "*"]


def test_device_classes(h):
    d = h["device_class"]
    assert d.labels("Samsung QN90A TV")[1:] == ["smart_tv", "big_screen", "*"]
    assert d.labels("Chrome 131 on Windows")[1:] == ["web_browser", "computer", "*"]
    assert d.labels("Chrome 999 on Linux")[1:] == ["web_browser", "computer", "*"]
    assert d.labels("iPad Air")[1:] == ["tablet", "handheld", "*"]
    assert d.labels("Amazon Fire TV Stick 4K")[1:] == ["smart_tv", "big_screen", "*"]
    assert d.labels("Toaster 3000")[1:] == ["other", "other", "*"]
    assert d.labels(None)[1:] == ["other", "other", "*"]


def test_location_levels(h):
    loc = h["location"]
    assert loc.labels(("US", "Brooklyn", "11201")) == ["US 11201", "Brooklyn, US", "New York, US", "US", "*"]
    assert loc.labels(("US", "Smallville", "66002")) == ["US 66002", "other, US", "other, US", "US", "*"]
    assert loc.labels(("ZZ", "Nowhere", "1")) == ["other", "other", "other", "other", "*"]
    assert "New York, US" in loc.domain(2) and "other, US" in loc.domain(2)


def test_codes_fold_unknowns(h):
    assert h["gender"].labels("F") == ["F", "*"]
    assert h["gender"].labels(None) == ["unknown", "*"]
    assert h["gender"].labels("Q") == ["other", "*"]


def test_interval_labels_without_explicit_names():
    op = IntervalsOperator(
        IntervalsSpec.model_validate({"type": "intervals", "levels": [{"name": "x", "bounds": [0, 10, 20]}]})
    )
    assert [op.labels(v)[1] for v in (-1, 0, 9, 10, 25)] == ["<0", "0-9", "0-9", "10-19", "20+"]


def test_arx_hierarchy_reads_the_adult_benchmark_files():
    op = ArxOperator(ADULT / "adult_hierarchy_sex.csv")
    assert op.labels("Male") == ["Male", "*"]
    assert op.labels("Unseen") == ["Unseen", "*"]
    age = ArxOperator(ADULT / "adult_hierarchy_age.csv")
    assert age.height == len(age.labels("39")) and age.labels("39")[-1] == "*"


def test_prefix_hierarchy_for_codes_and_dates():
    dates = PrefixOperator(PrefixSpec(type="prefix", lengths=[7, 4]))
    assert dates.labels("2026-11-23") == ["2026-11-23", "2026-11", "2026", "*"]
    codes = PrefixOperator(PrefixSpec(type="prefix", lengths=[3, 1], mask=True))
    assert codes.labels("10115") == ["10115", "101**", "1****", "*"]
    assert codes.labels(None) == ["unknown", "unknown", "unknown", "*"]


CATALOGUE = [
    # title_id, title_name, content_type, series_id, series_name, genre
    ("EP000185011", "Show: S2E2", "episode", "SE000185", "Show", "Drama"),
    ("MV000253", "A Film", "movie", None, None, "comedy"),
    ("TR000253", "A Film (Trailer)", "trailer", None, None, "comedy"),
]


def titles():
    from transforms.privacy.hierarchies.titles import TitlesOperator

    op = TitlesOperator()
    op.bind({"catalogue": CATALOGUE})
    return op


def test_titles_go_up_through_series_genre_and_type():
    op = titles()
    assert op.level_names == ["title", "series", "genre", "content_type", "*"]
    assert op.labels(("EP000185011", "episode")) == [
        "EP000185011",
        "series:SE000185",
        "genre:drama:episode",
        "type:episode",
        "*",
    ]
    assert op.labels(("MV000253", "movie")) == ["MV000253", "MV000253", "genre:comedy:movie", "type:movie", "*"]


def test_a_label_carries_its_own_name_and_type_never_the_hidden_titles():
    op = titles()
    companions = op.companion_values(("EP000185011", "episode"))
    assert [c["title_name"] for c in companions] == [
        "Show: S2E2",
        "Show (series)",
        "Drama (episodes)",
        "Any episode",
        "*",
    ]
    assert [c["content_type"] for c in companions] == ["episode"] * 4 + ["*"]
    # A trailer at the top hides its type too (a lone gated trailer was once recoverable).
    assert op.companion_values(("TR000253", "trailer"))[-1] == {"title_name": "*", "content_type": "*"}


def test_a_title_missing_from_the_catalogue_is_published_at_genre_level_at_best():
    op = titles()
    labels = op.labels(("EP999999001", "episode"))
    assert labels[:3] == ["genre:unknown:episode"] * 3
    assert labels[3:] == ["type:episode", "*"]
    assert op.companion_values(("EP999999001", "episode"))[0]["title_name"] == "Episodes not in the catalogue"


def test_titles_need_the_nights_catalogue():
    from transforms.errors import RawSchemaError
    from transforms.privacy.hierarchies.titles import TitlesOperator

    with pytest.raises(RawSchemaError, match="needs the day's catalogue"):
        TitlesOperator().labels(("MV000253", "movie"))


def test_titles_domains_for_validation():
    op = titles()
    assert op.domain(3) == ["type:movie", "type:episode", "type:trailer"]
    assert op.domain(0) is None and op.domain(4) == ["*"]
    assert op.companion_domain("content_type", 2) == ["movie", "episode", "trailer"]
    assert op.companion_domain("content_type", 4) == ["*"]

"""A night's Data Docs in a real browser with the network closed: styled, tables filled, Status icons drawn.

The run goes through every stage (tests/support/runs.py, without Airflow: the DAG adds nothing
to the Data Docs). Like the privacy report's render test, it skips where Chromium is missing.
"""

from __future__ import annotations

import shutil
import struct

import pytest

from tests.support import DAY
from tests.support.data_docs import probe, scan, screenshot
from tests.support.runs import run_stages

pytestmark = pytest.mark.slow
needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Chromium not installed (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def data_docs(raw_day, tmp_path_factory, policy, ring):
    tmp = tmp_path_factory.mktemp("night")
    _, stats = run_stages(raw_day, tmp, policy, ring, upto="publish")
    docs = tmp / "out" / policy.export / f"day={DAY}" / "_reports" / "data_docs"
    assert (docs / "index.html").is_file(), stats
    return docs


def test_published_data_docs_load_nothing_from_the_network(data_docs):
    found = scan(data_docs)
    assert found["external"] == []
    assert found["missing"] == []
    # Links a reader may click stay (GX's site, docs and newsletter): no page load follows them.
    assert all("greatexpectations.io" in link for link in found["links"])


@needs_chromium
def test_validation_page_and_index_render_offline(data_docs, tmp_path):
    docs = tmp_path / "data_docs"
    shutil.copytree(data_docs, docs)
    results = sorted(docs.glob("validations/**/*.html"))
    assert results
    longest = max(results, key=lambda p: (p.stat().st_size, p.name))
    seen_by_page = {}
    for page in (longest, docs / "index.html"):
        seen = seen_by_page[page.name] = probe(page)
        where = page.relative_to(docs)
        assert seen["failed"] == [] and seen["network"] == [], where
        assert seen["jquery"] == "3.7.1" and seen["bootstrap"] and seen["bootstrapTable"] and seen["datepicker"], where
        # Bootstrap's styles apply: the navbar is a flex row, .pl-5 pads 3rem.
        assert (seen["navbar"], seen["padding"]) == ("flex", "48px"), where
        assert seen["tables"] > 0 and seen["rows"] > 0, where
        # The Status column: an icon in every row, drawn with Font Awesome's font.
        assert seen["statusIcons"] > 0 and seen["statusGlyphs"] == seen["statusIcons"], where
        assert seen["faFonts"] == ["Font Awesome 6 Free"], where
        assert seen["logo"] > 0, where
    # The index lists one validation result per suite, each with its status icon.
    assert seen_by_page["index.html"]["statusIcons"] == len(results)


@needs_chromium
def test_validation_page_screenshot_offline_is_not_blank(data_docs, tmp_path):
    page = max(data_docs.glob("validations/**/*.html"), key=lambda p: (p.stat().st_size, p.name))
    png = screenshot(page, tmp_path / "datadocs-offline.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 1400)
    assert len(png) > 50_000  # text, tables, icons (a blank page is a few kB)

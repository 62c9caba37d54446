"""Data Docs render offline: no page loads anything from the network, every local asset is there.

Plain `<a href>` links to GX's site and docs (the newsletter footer, "how to" buttons) stay: a
browser only follows them when a reader clicks, so they are listed, not failed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from tests.support.data_docs import scan
from transforms.checks import data_docs_assets as dda
from transforms.checks.data_docs_assets import DataDocsAssetError, File, Library, make_offline

BUCKET = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com"
POPPER = "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"
BOOTSTRAP_JS = "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js"
# The head of a GX page, as its templates write it (shortened).
GX_TEMPLATE_HEAD = f"""<html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<style>.navbar-brand a {{ background: url('{BUCKET}/full_logo_dark.png') }}</style>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css">
<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script src="{POPPER}" integrity="sha384-x" crossorigin="anonymous"></script>
<script src="{BOOTSTRAP_JS}" integrity="sha384-y" crossorigin="anonymous"></script>
<link rel="shortcut icon" href="../static/images/favicon.ico" type="image/x-icon"/>
</head><body>
<img class="NO-CACHE" src="{BUCKET}/logo-long.png?d=20261206T142857Z" />
<a href="https://greatexpectations.io">Great Expectations</a>
"""


def _site(tmp_path: Path, body: str = "</body></html>") -> Path:
    docs = tmp_path / "docs"
    page = docs / "expectations" / "x" / "suite.html"
    page.parent.mkdir(parents=True)
    page.write_text(GX_TEMPLATE_HEAD + body)
    for image in ("logo-long.png", "favicon.ico"):
        (docs / "static" / "images").mkdir(parents=True, exist_ok=True)
        (docs / "static" / "images" / image).write_bytes(b"img")
    return docs


def test_a_gx_page_is_pointed_at_local_copies(tmp_path):
    docs = _site(tmp_path)
    copied = make_offline(docs)
    page = (docs / "expectations" / "x" / "suite.html").read_text()
    assert dda.external_references(page) == []
    assert scan(docs)["external"] == [] and scan(docs)["missing"] == []
    assert '<script src="../../static/vendor/jquery-3.7.1/jquery.min.js"></script>' in page
    assert 'src="../../static/vendor/bootstrap-4.5.3/js/bootstrap.bundle.min.js"></script>' in page
    assert "popper" not in page and "vega" not in page  # Popper is in the bundle; no chart on the page
    assert "integrity" not in page and "crossorigin" not in page
    assert "url('../../static/images/logo-long.png')" in page and 'src="../../static/images/logo-long.png"' in page
    assert 'href="../../static/images/favicon.ico"' in page  # GX's path was one folder short
    assert '<a href="https://greatexpectations.io">' in page  # a link, followed only on a click
    assert "static/vendor/font-awesome-6.2.1/webfonts/fa-solid-900.woff2" in copied
    for dest in copied:
        assert (docs / dest).is_file()


def test_rerun_writes_the_same_bytes(tmp_path):
    docs = _site(tmp_path)
    make_offline(docs)
    before = {p: p.read_bytes() for p in docs.rglob("*") if p.is_file()}
    make_offline(docs)
    assert {p: p.read_bytes() for p in docs.rglob("*") if p.is_file()} == before
    again = _site(tmp_path / "again")
    make_offline(again)
    assert {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()} == {
        p.relative_to(docs): b for p, b in before.items()
    }


def test_an_address_gx_adds_later_stops_the_run(tmp_path):
    docs = _site(tmp_path, '<script src="https://cdn.example.com/new-lib@2/lib.js"></script></body></html>')
    with pytest.raises(DataDocsAssetError, match=r"https://cdn\.example\.com/new-lib@2/lib\.js \(expectations/x/suite"):
        make_offline(docs)


def test_a_page_with_a_chart_stops_the_run(tmp_path):
    docs = _site(tmp_path, "<script>vegaEmbed('#g', vlSpec, {});</script></body></html>")
    with pytest.raises(DataDocsAssetError, match="a Vega chart, and Vega is not shipped"):
        make_offline(docs)


def test_a_missing_package_or_a_changed_file_is_named(tmp_path):
    with pytest.raises(DataDocsAssetError, match="XStatic-Nothing is not installed"):
        dda._source(File(Library("x-1", "XStatic-Nothing", "1", "x"), "x.js", "0" * 64))
    with pytest.raises(DataDocsAssetError, match=r"installed, the Data Docs need 0\.0\.1"):
        dda._source(File(Library("jquery", "XStatic-jQuery", "0.0.1", "xstatic/pkg/jquery/data"), "jquery.min.js", ""))
    with pytest.raises(DataDocsAssetError, match="is not the file pinned"):
        dda._copy(File(dda.JQUERY, "jquery.min.js", "0" * 64), tmp_path)


def test_every_pinned_file_is_installed_and_matches():
    files = {f.dest: f for group in dda.CDN.values() for f in group}
    for f in files.values():
        assert hashlib.sha256(dda._source(f).read_bytes()).hexdigest() == f.sha256, f.dest


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    """Real Data Docs from GX: one suite with a passing and a failing expectation."""
    from transforms.checks import gx as checks_gx

    docs = tmp_path_factory.mktemp("gx") / "data_docs"
    context = checks_gx.gx_context(docs)
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name="unit.offline",
        expectations=[
            gx.expectations.ExpectTableRowCountToEqual(value=3),
            gx.expectations.ExpectColumnValuesToBeBetween(column="a", min_value=0, max_value=1),
        ],
    )
    summary = checks_gx.run_suites(context, {"offline": pd.DataFrame({"a": [0, 1, 2]})}, {"offline": suite}, docs, "u")
    assert summary.failed  # one failure, so the Status column shows both icons
    return docs


def test_built_data_docs_load_nothing_from_the_network(built_site):
    pages = sorted(built_site.rglob("*.html"))
    assert len(pages) >= 3  # index, the suite, the validation result
    found = scan(built_site)
    assert found["external"] == [], "scripts, styles, fonts or images from the network"
    assert found["missing"] == [], "local references to files that are not there"
    # What stays: links a reader may click (GX's site, its docs, its newsletter).
    assert all("greatexpectations.io" in link for link in found["links"])
    assert (built_site / "static/vendor/bootstrap-table-1.19.1/bootstrap-table.min.js").is_file()
    assert not any("?d=" in p.read_text() for p in pages)  # the logo's render-time query is gone

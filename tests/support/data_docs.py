"""Checks of a Data Docs site: what it would load from the network, and how it renders offline.

Independent of transforms/checks/data_docs_assets.py: the pages are parsed with html.parser.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_REF = re.compile(r"""url\(\s*['"]?([^'")]*)|@import\s+['"]([^'"]+)""", re.IGNORECASE)
LOADING_ATTRS = {"src", "href", "srcset", "poster", "data", "background"}
# Closed network: every host name fails to resolve, and any proxied request goes to the discard port.
CHROMIUM = [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []  # (tag, address) the browser fetches by itself
        self.links: list[str] = []  # <a href>: only followed when a reader clicks
        self.css: list[str] = []  # <style> bodies and style attributes
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "style":
                self.css.append(value)
            elif tag == "a" and name == "href":
                self.links.append(value)
            elif name in LOADING_ATTRS:
                self.loads.append((tag, value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)


def _css_refs(text: str) -> list[str]:
    return [a or b for a, b in CSS_REF.findall(text)]


def scan(docs: Path) -> dict[str, list[str]]:
    """Every page and stylesheet of the site: network loads, local loads that miss, and plain links."""
    out: dict[str, list[str]] = {"external": [], "missing": [], "links": []}
    for path in sorted(docs.rglob("*")):
        if path.suffix not in (".html", ".css"):
            continue
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(docs)
        if path.suffix == ".html":
            p = _Refs()
            p.feed(text)
            refs = [v for _, v in p.loads] + [r for c in p.css for r in _css_refs(c)]
            out["links"] += [f"{rel}: {v}" for v in p.links if EXTERNAL.match(v)]
        else:
            refs = _css_refs(text)
        for ref in refs:
            if ref.startswith(("data:", "#")) or not ref.strip():
                continue
            if EXTERNAL.match(ref):
                out["external"].append(f"{rel}: {ref}")
            elif not (path.parent / ref.split("?")[0].split("#")[0]).exists():
                out["missing"].append(f"{rel}: {ref}")
    return out


# Runs in the page: records failed loads from the start, and once the page and its fonts are
# loaded, what a reviewer would see, into an attribute that --dump-dom prints.
_ERRORS = (
    "<script>window.__failed=[];addEventListener('error',function(e){var t=e.target;"
    "if(t&&t!==window){__failed.push(t.src||t.href||String(t.tagName));}},true);</script>"
)
_PROBE = """<script>
addEventListener('load', function () { document.fonts.ready.then(function () { settle(50); }); });
// bootstrap-table builds its tables from jQuery's ready handlers, which a busy machine may run
// after `load`: wait (in Chromium's virtual time) until every table the page declares is built.
function settle(tries) {
  var declared = document.querySelectorAll('table[data-toggle="table"]').length;
  var built = document.querySelectorAll('.bootstrap-table').length;
  if (built < declared && tries > 0) { setTimeout(function () { settle(tries - 1); }, 100); return; }
  record();
}
function record() {
  var q = function (s) { return Array.prototype.slice.call(document.querySelectorAll(s)); };
  var $ = window.jQuery, fonts = [];
  document.fonts.forEach(function (f) {
    if (f.family.indexOf('Font Awesome') >= 0 && f.status === 'loaded') fonts.push(f.family);
  });
  var glyph = function (i) {
    var s = getComputedStyle(i, '::before');
    return s.fontFamily.indexOf('Font Awesome') >= 0 && s.content !== 'none' && s.content !== 'normal'
      && i.getBoundingClientRect().width > 0;
  };
  var status = q('.bootstrap-table tbody tr td:first-child i.fas');
  document.documentElement.setAttribute('data-probe', JSON.stringify({
    failed: window.__failed,
    network: performance.getEntriesByType('resource').map(function (e) { return e.name; })
      .filter(function (n) { return n.indexOf('file:') !== 0; }),
    jquery: $ ? $.fn.jquery : null,
    bootstrap: !!($ && $.fn.modal && $.fn.tooltip),
    bootstrapTable: !!($ && $.fn.bootstrapTable),
    datepicker: !!($ && $.fn.datepicker),
    navbar: getComputedStyle(document.querySelector('nav.navbar')).display,
    padding: getComputedStyle(document.querySelector('.container-fluid')).paddingLeft,
    tables: q('.bootstrap-table').length,
    rows: q('.bootstrap-table tbody tr').length,
    statusIcons: status.length,
    statusGlyphs: status.filter(glyph).length,
    faFonts: fonts,
    logo: (document.querySelector('.navbar-brand img') || {}).naturalWidth || 0
  }));
}
</script>"""


def probe(page: Path) -> dict:
    """Open `page` in headless Chromium with the network closed; return what rendered."""
    probed = page.with_name(f"_probe_{page.name}")
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", "<head>" + _ERRORS, 1).replace("</body>", _PROBE + "</body>", 1))
    try:
        dom = _chromium(["--virtual-time-budget=10000", "--dump-dom"], probed)
    finally:
        probed.unlink()
    m = re.search(r'data-probe="([^"]*)"', dom)
    assert m, f"the page never finished loading: {dom[:300]}"
    return json.loads(html.unescape(m.group(1)))


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1280, 1400)) -> bytes:
    _chromium([f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=10000", f"--screenshot={png}"], page)
    return png.read_bytes()


def _chromium(args: list[str], page: Path) -> str:
    assert shutil.which("chromium"), "chromium is not installed"
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [*CHROMIUM, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return done.stdout

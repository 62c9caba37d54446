"""Great Expectations Data Docs that render without network.

GX's page templates load Bootstrap, jQuery, Popper, bootstrap-table, bootstrap-datepicker, a dark
theme, Font Awesome and Vega from CDNs, and the logo from GX's bucket (with the time of rendering
in its query string). Offline, a reviewer gets unstyled pages, empty lists and a blank Status
column. GX has no setting for these addresses (they are literals in its templates, and its
`custom_views_directory` loader comes after the built-in one, so it cannot replace them).

`make_offline(docs_dir)` runs after GX has written the site: it copies the files the pages use
into `static/vendor/` and points every page at them by a relative path. The files come from
pinned packages (XStatic-*, requirements.txt) or, for the two libraries no Python package ships,
from `data_docs_vendor/` (copied from the npm releases the CDN addresses name; see its README).
Every file is pinned by sha256, so a rerun writes the same bytes. An address GX adds in a later
version, or a missing file, stops the run with a `DataDocsAssetError` naming it.

Only GX's rendered pages are touched; they hold aggregate validation results, never rows.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from transforms.errors import ExportError

log = logging.getLogger(__name__)

VENDOR_SOURCE = Path(__file__).with_name("data_docs_vendor")
VENDOR_DIR = "static/vendor"  # under the Data Docs root


class DataDocsAssetError(ExportError):
    """A Data Docs asset is missing from the install, or GX references one not mapped here."""


@dataclass(frozen=True)
class Library:
    folder: str  # its folder under static/vendor/: what it is and which version
    dist: str | None  # the installed distribution that ships it; None: data_docs_vendor/
    version: str  # the version pinned in requirements.txt (or vendored)
    root: str  # the folder holding its files, in the distribution or in data_docs_vendor/


@dataclass(frozen=True)
class File:
    library: Library
    path: str  # under library.root, and under static/vendor/<folder>/
    sha256: str

    @property
    def dest(self) -> str:
        return f"{VENDOR_DIR}/{self.library.folder}/{self.path}"


JQUERY = Library("jquery-3.7.1", "XStatic-jQuery", "3.7.1.1", "xstatic/pkg/jquery/data")
BOOTSTRAP = Library("bootstrap-4.5.3", "XStatic-Bootstrap", "4.5.3.1", "xstatic/pkg/bootstrap/data")
FONT_AWESOME = Library("font-awesome-6.2.1", "XStatic-Font-Awesome", "6.2.1.2", "xstatic/pkg/font_awesome/data")
DATEPICKER = Library(
    "bootstrap-datepicker-1.4.0", "XStatic-Bootstrap-Datepicker", "1.4.0.1", "xstatic/pkg/bootstrap_datepicker/data"
)
BOOTSTRAP_TABLE = Library("bootstrap-table-1.19.1", None, "1.19.1", "bootstrap-table-1.19.1")
BOOTSTRAP_DARK = Library("bootstrap-dark-1.1.0", None, "1.1.0", "bootstrap-dark-1.1.0")

_FA_FONTS = (
    ("fa-brands-400.ttf", "b1d1c1b012e1a7621cc84fd1e5c1dbab92012f40df7423e879ab2fa493520fee"),
    ("fa-brands-400.woff2", "c61287c2fa9863b5fb5844c683a168ac6520c94d822bb43d5eae35c3a2a82166"),
    ("fa-regular-400.ttf", "d7b19fe201101b08ab1344ffd472d59ce652ad3c3fb5f194c3e35aa2908e674a"),
    ("fa-regular-400.woff2", "5da313b0467f7c1b18d981672b23461add31e3ad41988c30101bdaabb074e446"),
    ("fa-solid-900.ttf", "e4f6a7e9d1a7c0b4968d9cb9d422e8d9cdca229f7ff3aeac7f96e4baa25c7680"),
    ("fa-solid-900.woff2", "8f06540fd77f1effe1e2da8ea10cec4a382dda9cc6ef05d816e1d6de444072f2"),
    ("fa-v4compatibility.ttf", "2ddb3b4114a9cb565e49b0af21cc3ac88cd043beb49be328b8f57a634989e0ac"),
    ("fa-v4compatibility.woff2", "f46715c9d30047f8dea4eb25ed869f791eb069c6b0f6102382c32a56aeeadfbb"),
)
_BT_LICENSE = File(BOOTSTRAP_TABLE, "LICENSE", "fb50e42cb539382385f8d66572fef8ec08a34dd7dc00ba7a5ce0668d225dc35b")
_BT_FILTER_CSS = (
    File(
        BOOTSTRAP_TABLE,
        "extensions/filter-control/bootstrap-table-filter-control.min.css",
        "be4e0c0d11f9319f1ad191f7447a38f755728bbaa10903e469f367441ba79ae2",
    ),
    _BT_LICENSE,
)

#: Each CDN address in GX's templates -> the local files serving it: the first is what the tag
#: loads, the others what that file needs (web fonts) or its licence. Empty: the tag is dropped.
CDN: dict[str, tuple[File, ...]] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": (
        File(JQUERY, "jquery.min.js", "fc9a93dd241f6b045cbff0481cf4e1901becd0e12fb45166a8f17f95823f0b1a"),
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        File(BOOTSTRAP, "css/bootstrap.min.css", "f77c0d1739b618edc4a01ca3f6b2990b01a3009030af49ee8cf68e83052df194"),
    ),
    # The bundle is Bootstrap's JavaScript with Popper 1.16 inside, so Popper's own tag goes.
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        File(
            BOOTSTRAP, "js/bootstrap.bundle.min.js", "8d7089253dca29c9cd8d9deb7ec69b0a3d445f88f6a26478c719be1f90adcb01"
        ),
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        File(FONT_AWESOME, "css/all.min.css", "6752b9ba151a25703b2e5d17ad9ff42615f8940b591694fa8e42ab1034f476b5"),
        *(File(FONT_AWESOME, f"webfonts/{name}", digest) for name, digest in _FA_FONTS),
        File(FONT_AWESOME, "LICENSE.txt", "de784a808496d49f5f80dd9d1d6e9a51cff712cfbc339e7c25155631ae3cdb5d"),
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        File(DATEPICKER, "datepicker.css", "604c320e8493039e651d009c268a8d8e70925f00d2c20a8a06cb9980851e8b22"),
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        File(DATEPICKER, "bootstrap-datepicker.js", "72f77a2f6da07542eb900055efc5a3137a2a7ea57339e6b2bf6b248c7e1326b0"),
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        File(
            BOOTSTRAP_TABLE,
            "bootstrap-table.min.css",
            "643f536f6982af4d7287af23f89ad457dd7e4a82f9c695330a112b0881c30a4a",
        ),
        _BT_LICENSE,
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        File(
            BOOTSTRAP_TABLE,
            "bootstrap-table.min.js",
            "06a571a9beb50bd5ddd60517159775dfec1f3e798fff38fb117ae2350dc9ba9d",
        ),
        _BT_LICENSE,
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        File(
            BOOTSTRAP_TABLE,
            "extensions/filter-control/bootstrap-table-filter-control.min.js",
            "111f68d31d1bdd714f9503bf5f4e162e0739c363e4ff2feef950d39e78266ffc",
        ),
        _BT_LICENSE,
    ),
    # GX asks for 1.19.0's stylesheet here; its two rules are the same in 1.19.1.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        _BT_FILTER_CSS
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        _BT_FILTER_CSS
    ),
    # Only applies when the browser prefers a dark scheme; the minified form of the same release.
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        File(
            BOOTSTRAP_DARK,
            "bootstrap-prefers-dark.min.css",
            "424070f1f798087a68c110a776228f9eaae5406df143940faa67d77344293ac8",
        ),
        File(BOOTSTRAP_DARK, "LICENSE", "43be5d79d2ec3d6d876e1874d27506cbe55024b18afc55f1fc830aaaedc0313d"),
    ),
}

#: Vega draws GX's charts (`vegaEmbed(...)` in a page). No suite of ours renders one, so these
#: tags are dropped; a page that does draw a chart stops the run (ship Vega first).
CHARTS = frozenset(
    {
        "https://cdn.jsdelivr.net/npm/vega@5",
        "https://cdn.jsdelivr.net/npm/vega-lite@5",
        "https://cdn.jsdelivr.net/npm/vega-embed@6",
    }
)

#: GX's bucket: the logo (a light one, and a dark one for dark mode) -> GX's own local copy.
GX_BUCKET = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
GX_IMAGES = {"logo-long.png": "static/images/logo-long.png", "full_logo_dark.png": "static/images/logo-long.png"}

_BY_DEST = {files[0].dest: files for files in CDN.values() if files}
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_SCRIPT = re.compile(r'<script\b[^>]*?\bsrc="([^"]*)"[^>]*>\s*</script>[ \t]*\n?', re.IGNORECASE)
_TAG = re.compile(r"<(link|img)\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'\b(href|src)="([^"]*)"', re.IGNORECASE)
_SRI = re.compile(r'\s+(?:integrity|crossorigin)(?:="[^"]*")?', re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]*)\1\s*\)""", re.IGNORECASE)
_LOCAL_STATIC = re.compile(r"^(?:\.\./)*static/")
_ANY_TAG = re.compile(r"<([a-zA-Z][\w-]*)\b([^>]*)>")
_ANY_ATTR = re.compile(r"""\b(src|href|srcset|poster|data|action|background)\s*=\s*(["']?)([^"'\s>]*)""", re.IGNORECASE)
_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)""", re.IGNORECASE)


def make_offline(docs_dir: Path) -> list[str]:
    """Point every page of the Data Docs site in `docs_dir` at local copies; return the copied paths."""
    docs_dir = Path(docs_dir)
    pages = sorted(p for p in docs_dir.rglob("*.html") if p.is_file())
    styles = sorted(p for p in (docs_dir / "static" / "styles").rglob("*.css") if p.is_file())
    needed: dict[str, File] = {}
    problems: dict[str, list[str]] = {}  # what -> the pages where it is
    for path in [*pages, *styles]:
        rel = path.relative_to(docs_dir)
        prefix = "../" * (len(rel.parts) - 1)
        text = path.read_text(encoding="utf-8")
        found: list[str] = []
        if path.suffix == ".css":
            new = _rewrite_css(text, prefix, found)
        else:
            new = _rewrite_page(text, prefix, needed, found)
        for what in [*found, *external_references(new)]:
            problems.setdefault(what, []).append(str(rel))
        if new != text:
            path.write_text(new, encoding="utf-8")
    if problems:
        raise DataDocsAssetError(
            "Data Docs would load from the network: "
            + "; ".join(
                f"{what} ({where[0]}" + (f" and {len(where) - 1} more pages)" if len(where) > 1 else ")")
                for what, where in problems.items()
            )
            + "; map the address in transforms/checks/data_docs_assets.py"
        )
    copied = [_copy(f, docs_dir) for _, f in sorted(needed.items())]
    log.info("data docs: %d pages made offline, %d local assets", len(pages), len(copied))
    return copied


def external_references(text: str) -> list[str]:
    """Addresses on the network that a page or stylesheet would load (links a reader clicks excluded)."""
    found = []
    for tag, attrs in _ANY_TAG.findall(text):
        if tag.lower() == "a":
            continue
        found += [v for _, _, v in _ANY_ATTR.findall(attrs) if _EXTERNAL.match(v)]
    found += [u for _, u in _CSS_URL.findall(text) if _EXTERNAL.match(u)]
    found += [u for u in _IMPORT.findall(text) if _EXTERNAL.match(u)]
    return found


def _rewrite_page(text: str, prefix: str, needed: dict[str, File], problems: list[str]) -> str:
    draws_charts = "vegaEmbed(" in text

    def script(m: re.Match) -> str:
        url = m.group(1)
        if url in CHARTS:
            if draws_charts:
                problems.append(f"a Vega chart, and Vega is not shipped for offline use: {url}")
            return ""
        if url in CDN:
            return _retarget(m.group(0), "src", url, prefix, needed) if CDN[url] else ""
        if _LOCAL_STATIC.match(url):
            return m.group(0).replace(f'src="{url}"', f'src="{_local(url, prefix, needed)}"', 1)
        return m.group(0)

    def tag(m: re.Match) -> str:
        html = m.group(0)
        for attr, url in _ATTR.findall(html):
            if CDN.get(url):
                html = _retarget(html, attr, url, prefix, needed)
            elif url.startswith(GX_BUCKET):
                html = html.replace(f'{attr}="{url}"', f'{attr}="{_gx_image(url, prefix, problems)}"', 1)
            elif _LOCAL_STATIC.match(url):
                # GX's favicon link on validation pages is one folder short; every local asset
                # lives under the site's static/, so the path follows from the page's depth.
                html = html.replace(f'{attr}="{url}"', f'{attr}="{_local(url, prefix, needed)}"', 1)
        return html

    text = _SCRIPT.sub(script, text)
    text = _TAG.sub(tag, text)
    return _rewrite_css(text, prefix, problems)


def _rewrite_css(text: str, prefix: str, problems: list[str]) -> str:
    def url(m: re.Match) -> str:
        if m.group(2).startswith(GX_BUCKET):
            return f"url({m.group(1)}{_gx_image(m.group(2), prefix, problems)}{m.group(1)})"
        return m.group(0)

    return _CSS_URL.sub(url, text)


def _gx_image(url: str, prefix: str, problems: list[str]) -> str:
    image = url.removeprefix(GX_BUCKET).split("?", 1)[0]
    if image not in GX_IMAGES:
        return url  # left as it is: external_references names it
    return prefix + GX_IMAGES[image]


def _local(url: str, prefix: str, needed: dict[str, File]) -> str:
    """A reference into the site's static/ folder, from this page's depth.

    A page made offline before keeps its files (its references are already local).
    """
    path = _LOCAL_STATIC.sub("static/", url)
    for f in _BY_DEST.get(path, ()):
        needed[f.dest] = f
    return prefix + path


def _retarget(html: str, attr: str, url: str, prefix: str, needed: dict[str, File]) -> str:
    files = CDN[url]
    for f in files:
        needed[f.dest] = f
    html = html.replace(f'{attr}="{url}"', f'{attr}="{prefix}{files[0].dest}"', 1)
    # Subresource-integrity hashes are for the CDN's file, and a crossorigin fetch of a local file fails.
    return _SRI.sub("", html)


def _copy(f: File, docs_dir: Path) -> str:
    source = _source(f)
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != f.sha256:
        raise DataDocsAssetError(
            f"{source} is not the file pinned for the Data Docs ({f.library.folder}/{f.path}); "
            "reinstall with pip install -r requirements.txt"
        )
    target = docs_dir / f.dest
    if not target.is_file() or target.read_bytes() != data:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return f.dest


def _source(f: File) -> Path:
    lib = f.library
    if lib.dist is None:
        path = VENDOR_SOURCE / lib.root / f.path
    else:
        try:
            dist = importlib.metadata.distribution(lib.dist)
        except importlib.metadata.PackageNotFoundError:
            raise DataDocsAssetError(
                f"{lib.dist} is not installed; the Data Docs need it offline: pip install -r requirements.txt"
            ) from None
        if dist.version != lib.version:
            raise DataDocsAssetError(
                f"{lib.dist} {dist.version} is installed, the Data Docs need {lib.version} (requirements.txt)"
            )
        path = Path(str(dist.locate_file(f"{lib.root}/{f.path}")))
    if not path.is_file():
        raise DataDocsAssetError(f"{path} is missing; the Data Docs need it offline ({lib.folder}/{f.path})")
    return path

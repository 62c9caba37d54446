"""Privacy report per run and an index of runs, for the privacy reviewer.

`privacy_report.html` (beside the Data Docs in `_reports/`) says in plain words what the
policy does, how the night went and why the extract is safe. This module renders the frame
every export kind shares (verdict, key id, counts in and out with rejection reasons, the
self-test and validation outcome, warnings); the kind renders its own cards and body
(`exports/<kind>/report.py`). One self-contained file: inline CSS and SVG, no script, no
external resource, works offline. It is built from the manifest only, so it cannot show a row.

`<out-root>/<export>/_index.html` lists the published nights, newest first, with links.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from transforms import storage
from transforms.context import DATA_DOCS, DAY_PREFIX, MANIFEST, PRIVACY_REPORT, REPORTS, Layout
from transforms.reporting.manifest import AnyManifest, read_manifest

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:60rem;color:#1d2733;
line-height:1.45;padding:0 1rem}h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d8dee6;padding-bottom:.3rem}.sub{color:#5b6b7c}table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.25rem .8rem .25rem 0;text-align:left;vertical-align:top}td:first-child{white-space:nowrap}th{color:#5b6b7c;font-weight:600}
.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}.warn{color:#a15c00;font-weight:600}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d8dee6;border-radius:8px;padding:.8rem 1rem;
min-width:10rem}.card b{display:block;font-size:1.4rem}svg text{font-size:12px;fill:#1d2733}code{background:#f1f3f6;
padding:0 .25rem;border-radius:3px}
"""


def e(value: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(value))


_e = e


def bar_chart(data: dict[str, float], unit: str = "", width: int = 560, fmt: str = "{:,.0f}") -> str:
    """Horizontal bars as inline SVG."""
    if not data:
        return "<p class='sub'>nothing to show</p>"
    peak = max(data.values()) or 1
    row, label_w = 24, 190
    parts = [f"<svg role='img' width='{width}' height='{row * len(data) + 6}'>"]
    for i, (label, value) in enumerate(data.items()):
        y = i * row + 3
        w = max(1, int((width - label_w - 90) * value / peak)) if value else 0
        parts.append(f"<text x='0' y='{y + 15}'>{_e(label)}</text>")
        parts.append(f"<rect x='{label_w}' y='{y + 3}' width='{w}' height='16' fill='#3b6ea8' rx='2'/>")
        parts.append(f"<text x='{label_w + w + 6}' y='{y + 15}'>{_e(fmt.format(value))}{_e(unit)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def card(title: str, value: object, note: str = "", raw: bool = False) -> str:
    shown = value if raw else _e(value)
    return f"<div class='card'>{_e(title)}<b>{shown}</b>{_e(note)}</div>"


def dictionary_section(entries: list, specials: dict[str, str]) -> str:
    """The data dictionary: each published column (`entries`: .column, .meaning, .values) and
    the labels that mean the same in every column."""
    rows = "".join(
        f"<tr><td><code>{_e(x.column)}</code></td><td>{_e(x.meaning)}</td><td>{_e(x.values)}</td></tr>" for x in entries
    )
    special = "".join(f"<tr><td><code>{_e(k)}</code></td><td colspan=2>{_e(v)}</td></tr>" for k, v in specials.items())
    return (
        "<h2>Data dictionary</h2><p class='sub'>Every published column at tonight's levels (also in each Parquet "
        "field's <code>description</code> metadata).</p>"
        f"<table><tr><th>column</th><th>meaning</th><th>values tonight</th></tr>{rows}</table>"
        f"<h3>Labels with the same meaning in every column</h3><table>{special}</table>"
    )


def minors_sentence(manifest: AnyManifest) -> str:
    """What the minors rule did (both kinds)."""
    m = manifest.minors
    if m is None:
        return "No minors rule was recorded for this night (a manifest from before the rule existed)."
    if m.action == "drop" and m.rows_dropped is None:  # a DP release: the counts stay private
        return (
            f"People under <b>{m.under}</b> on the day are left out: their plays are dropped before pseudonymization."
        )
    if m.action == "drop":
        return (
            f"People under <b>{m.under}</b> on the day are left out: {m.rows_dropped:,} plays of "
            f"{m.people_dropped:,} people were dropped before pseudonymization and are only counted."
        )
    band = f", <code>{_e(m.band)}</code>, with people of {m.under} and older" if m.band else ""
    return f"People under <b>{m.under}</b> on the day are published only in the lowest age band{band}, never in a band of their own."


def _people(c) -> str:
    """The night's people figures, or why some are withheld (aggregate kind: a small cohort)."""
    if c.people_in is None:
        return "The number of people is withheld: the night has too few for a published count."
    if c.people_published is None:
        return f"{c.people_in:,} people in; how many of them are fully suppressed is withheld (too few to state)."
    return (
        f"{c.people_in:,} people in, {c.people_published:,} published ({c.people_fully_suppressed:,} fully suppressed)."
    )


def rows_in_and_out(c) -> str:
    """Rows in and out with rejection reasons; for a DP release (no counts) why they are private."""
    if c is None:
        return (
            "<h2>Rows in and out</h2><p>Exact counts of this night (rows, rejections, people, minors) are "
            "<b>not published</b> with a differentially private release: an exact count would tell whether one "
            "person's plays are in the data. Operators find them in the private work zone "
            "(<code>_dp/accounting/</code>); validation checked that every row is accounted for.</p>"
        )
    counts = {"published": c.published_rows, "suppressed": c.suppressed_rows, "rejected": c.rejected_rows}
    reasons = {k: float(n) for k, n in sorted(c.rejected_by_reason.items(), key=lambda kv: -kv[1])}
    minors = f" + {c.minor_rows:,} of minors dropped" if c.minor_rows else ""
    return f"""<h2>Rows in and out</h2>
<p>{c.input_rows:,} rows in = {c.published_rows:,} published + {c.suppressed_rows:,} suppressed +
{c.rejected_rows:,} rejected{minors}. {_people(c)}</p>
{bar_chart({k: float(n) for k, n in counts.items()}, " rows")}
<h3>Rejected rows by reason</h3>{bar_chart(reasons, " rows")}"""


def self_test_sentence(st) -> str:
    if st.values_tested is None:
        return (
            f"every raw identifier value of the day and its plain hashes and encodings were compared with every "
            f"published value: <b>{st.hits} found</b> (the numbers compared are private for a DP release)."
        )
    return (
        f"{st.values_tested:,} raw identifier values of the day and {st.forms_tested:,} of their plain hashes and "
        f"encodings were compared with {st.published_values:,} published values: <b>{st.hits} found</b>."
    )


def render(manifest: AnyManifest, policy_items: list[str], cards: str, body: str, dictionary: str = "") -> str:
    """The report: the shared frame around the export kind's policy sentences, cards and body."""
    c, v, st = manifest.counts, manifest.validation, manifest.self_test
    verdict = "<span class='ok'>passed</span>" if manifest.passed() else "<span class='bad'>FAILED</span>"
    suites = "".join(
        f"<tr><td>{_e(name)}</td><td>{'<span class=ok>pass</span>' if passed else '<span class=bad>fail</span>'}</td></tr>"
        for name, passed in v.suites.items()
    )
    warn_html = "".join(f"<li class='warn'>{_e(w)}</li>" for w in manifest.warnings) or "<li>none</li>"
    policy_html = "".join(f"<li>{i}</li>" for i in [*policy_items, minors_sentence(manifest)])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Privacy report: {_e(manifest.export)} {_e(manifest.day)}</title>
<style>{STYLE}</style></head><body>
<h1>Privacy report: {_e(manifest.export)}, {_e(manifest.day)}</h1>
<p class="sub">run {_e(manifest.run_id)} &middot; policy {_e(manifest.policy.file)}
({_e(manifest.policy.digest[:19])}&hellip;) &middot; created {_e(manifest.created_at)}</p>
<div class="cards">
{card("checks", verdict, raw=True)}
{cards}
{card("key id", manifest.pseudonym.key_id, f"recipient {manifest.pseudonym.recipient}")}
</div>
<h2>What the policy does</h2><ul>{policy_html}</ul>
{rows_in_and_out(c)}
{body}
{dictionary}
<h2>Checks</h2>
<p>Self-test: {self_test_sentence(st)}</p>
<table><tr><th>suite</th><th>result</th></tr>{suites}</table>
<p>{v.expectations} expectations; details in the <a href="data_docs/index.html">Data Docs</a>
(they name failures, never the failing values).</p>
<h3>Warnings</h3><ul>{warn_html}</ul>
</body></html>
"""


def write_report(folder: Path, html_text: str) -> Path:
    path = folder / REPORTS / PRIVACY_REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_text, encoding="utf-8")
    return path


def write_index(layout: Layout, export: str) -> Path:
    """Rewrite <out-root>/<export>/_index.html from the partitions' manifests (atomic replace)."""
    export_dir = layout.export_dir(export)
    rows = []
    for manifest_path in sorted(export_dir.glob(f"{DAY_PREFIX}*/{MANIFEST}"), reverse=True):
        m = read_manifest(manifest_path)
        if m is None:
            continue
        day_dir = manifest_path.parent.name
        warn = len(m.warnings)
        c = m.counts
        figures = (
            f"<td>{c.published_rows:,}</td><td>{c.suppressed_rows:,}</td><td>{c.rejected_rows:,}</td>"
            if c is not None
            else "<td colspan=3>private (DP)</td>"
        )
        rows.append(
            f"<tr><td>{_e(m.day)}</td><td>{_e(m.run_id)}</td>{figures}<td>{_e(m.threshold)}</td>"
            f"<td>{'<span class=ok>ok</span>' if m.passed() else '<span class=bad>failed</span>'}"
            f"{f' <span class=warn>{warn} warning(s)</span>' if warn else ''}</td>"
            f"<td><a href='{_e(day_dir)}/{REPORTS}/{PRIVACY_REPORT}'>privacy report</a> &middot; "
            f"<a href='{_e(day_dir)}/{REPORTS}/{DATA_DOCS}/index.html'>data docs</a> &middot; "
            f"<a href='{_e(day_dir)}/{MANIFEST}'>manifest</a></td></tr>"
        )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(export)}: published nights</title>
<style>{STYLE}</style></head><body><h1>{_e(export)}: published nights</h1>
<table><tr><th>day</th><th>run</th><th>published</th><th>suppressed</th><th>rejected</th><th>k / min viewers</th><th>checks</th>
<th>reports</th></tr>{"".join(rows)}</table></body></html>
"""
    target = layout.index(export)
    if storage.is_remote(target):  # one PUT replaces the object whole
        target.write_text(page, encoding="utf-8")
        return target
    export_dir.mkdir(parents=True, exist_ok=True)
    tmp = export_dir / f".{target.name}.{os.getpid()}"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return target

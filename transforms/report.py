"""Privacy report per run and an index of runs, for the privacy reviewer.

`privacy_report.html` (beside the Data Docs in `_reports/`) says in plain words what the
policy does, how the night went and why the extract is safe: k and the suppression limit, the
levels chosen, class sizes, loss by attribute, risk before and after, counts in and out with
rejection reasons, the key id and pseudonym domain, the self-test and validation outcome.
One self-contained file: inline CSS and SVG, no script, no external resource, works offline.
It is built from the manifest only, so it cannot show a row.

`<out-root>/<export>/_index.html` lists the published nights, newest first, with links.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from transforms.policy import Policy

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


def _e(value: object) -> str:
    return html.escape(str(value))


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


def _plain_policy(policy: Policy) -> str:
    drops = sorted(c for c, a in policy.columns.items() if a == "drop")
    reduced = sorted(c for c, a in policy.columns.items() if a == "reduce")
    p = policy.privacy
    items = [
        f"Viewers are replaced by a pseudonym (<code>{_e(policy.pseudonym.column)}</code>): a keyed HMAC-SHA256 of "
        f"{_e(' + '.join(policy.pseudonym.person))}, under a key derived for the recipient "
        f"<b>{_e(policy.recipient)}</b> (epoch: {_e(policy.pseudonym.epoch)}), so no other recipient can link it.",
        f"Never published: {_e(', '.join(drops))}."
        + (f" Reduced before use: {_e(', '.join(reduced))}." if reduced else ""),
        f"Every published combination of {_e(', '.join(policy.qi_columns))} is shared by at least <b>{p.k}</b> "
        f"distinct people; at most {p.suppression_limit:.0%} of {_e(p.suppression_unit)} may be suppressed to reach it.",
        f"Titles seen by fewer than {p.k} people are replaced by <code>*</code>.",
        f"Generalization levels are chosen to minimize <b>{_e(p.metric)}</b>"
        + (", reusing the previous night's levels while they still qualify." if p.stable_levels else "."),
        f"Extracts are kept {policy.retention_days} days.",
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def render(manifest: dict, policy: Policy) -> str:
    c, a = manifest["counts"], manifest["anonymization"]
    v, st = manifest["validation"], manifest["self_test"]
    ok = v["success"] and st["hits"] == 0
    verdict = "<span class='ok'>passed</span>" if ok else "<span class='bad'>FAILED</span>"
    warnings = manifest.get("warnings", [])
    counts = {"published": c["published_rows"], "suppressed": c["suppressed_rows"], "rejected": c["rejected_rows"]}
    reasons = {k: float(n) for k, n in sorted(c["rejected_by_reason"].items(), key=lambda kv: -kv[1])}
    levels = "".join(f"<tr><td>{_e(q)}</td><td>{_e(lv)}</td><td>{a['loss_by_attribute'].get(q, 0):.3f}</td></tr>"
                     for q, lv in manifest["levels"].items())  # fmt: skip
    risk = (f"<tr><th></th><th>highest</th><th>average</th></tr>"
            f"<tr><td>before (finest allowed levels)</td><td>{a['risk_before']['highest']:.3f}</td>"
            f"<td>{a['risk_before']['average']:.3f}</td></tr>"
            f"<tr><td>after (published)</td><td>{a['risk_after']['highest']:.3f}</td>"
            f"<td>{a['risk_after']['average']:.3f}</td></tr>")  # fmt: skip
    suites = "".join(
        f"<tr><td>{_e(name)}</td><td>{'<span class=ok>pass</span>' if passed else '<span class=bad>fail</span>'}</td></tr>"
        for name, passed in v["suites"].items()
    )
    ld = a.get("l_diversity") or {}
    l_line = (f"<p>Diversity of <code>{_e(ld['attribute'])}</code> within each combination: at least "
              f"{_e(ld['distinct_l'])} distinct values (entropy l {_e(ld['entropy_l'])}).</p>") if ld else ""  # fmt: skip
    warn_html = "".join(f"<li class='warn'>{_e(w)}</li>" for w in warnings) or "<li>none</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Privacy report: {_e(manifest["export"])} {_e(manifest["day"])}</title>
<style>{STYLE}</style></head><body>
<h1>Privacy report: {_e(manifest["export"])}, {_e(manifest["day"])}</h1>
<p class="sub">run {_e(manifest["run_id"])} &middot; policy {_e(manifest["policy"]["file"])}
({_e(manifest["policy"]["digest"][:19])}&hellip;) &middot; created {_e(manifest["created_at"])}</p>
<div class="cards">
<div class="card">checks<b>{verdict}</b></div>
<div class="card">k (people)<b>{manifest["k"]}</b>smallest class: {c["min_class_people"]}</div>
<div class="card">suppressed<b>{a["suppressed_rows_share"]:.1%}</b>limit {manifest["suppression_limit"]:.0%} of {_e(a["suppression_unit"])}</div>
<div class="card">highest risk<b>{a["risk_after"]["highest"]:.3f}</b>was {a["risk_before"]["highest"]:.3f}</div>
<div class="card">key id<b>{_e(manifest["pseudonym"]["key_id"])}</b>recipient {_e(manifest["pseudonym"]["recipient"])}</div>
</div>
<h2>What the policy does</h2>{_plain_policy(policy)}
<h2>Rows in and out</h2>
<p>{c["input_rows"]:,} rows in = {c["published_rows"]:,} published + {c["suppressed_rows"]:,} suppressed +
{c["rejected_rows"]:,} rejected. {c["people_in"]:,} people in, {c["people_published"]:,} published
({c["people_fully_suppressed"]:,} fully suppressed).</p>
{bar_chart({k: float(n) for k, n in counts.items()}, " rows")}
<h3>Rejected rows by reason</h3>{bar_chart(reasons, " rows")}
<h2>Generalization</h2>
<table><tr><th>attribute</th><th>level published</th><th>loss</th></tr>{levels}</table>
<p>Information loss ({_e(a["objective"])} objective): Loss {a["loss"]:.3f}, precision {a["precision"]:.3f},
discernibility {a["discernibility"]:,.0f}. Levels from: {_e(a["levels_source"])}; lattice search evaluated
{manifest["search"]["evaluated"]} of {manifest["search"]["lattice"]} generalizations.</p>
<h3>Loss by attribute</h3>{bar_chart(a["loss_by_attribute"], "", fmt="{:.3f}")}
<h2>Combinations and re-identification risk</h2>
<p>{c["classes"]:,} published combinations, {c["avg_class_people"]:,} people on average. Prosecutor risk is 1 / people
in a record's combination.</p>
<h3>Combinations by size (people)</h3>{bar_chart({k: float(n) for k, n in a["class_size_histogram"].items()}, "")}
<table>{risk}</table>{l_line}
<p>Rare values: {sum(c["gated_values"].values()):,} titles replaced by <code>*</code> ({sum(c["gated_rows"].values()):,} rows).</p>
<h2>Checks</h2>
<p>Self-test: {st["values_tested"]:,} raw identifier values of the day and {st["forms_tested"]:,} of their plain
hashes and encodings were compared with {st["published_values"]:,} published values: <b>{st["hits"]} found</b>.</p>
<table><tr><th>suite</th><th>result</th></tr>{suites}</table>
<p>{v["expectations"]} expectations; details in the <a href="data_docs/index.html">Data Docs</a>
(they name failures, never the failing values).</p>
<h3>Warnings</h3><ul>{warn_html}</ul>
</body></html>
"""


def write_report(staging: Path, manifest: dict, policy: Policy) -> Path:
    path = staging / "_reports" / "privacy_report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(manifest, policy), encoding="utf-8")
    return path


def write_index(out_root: Path, export: str) -> Path:
    """Rewrite <out-root>/<export>/_index.html from the partitions' manifests (atomic replace)."""
    export_dir = out_root / export
    rows = []
    for manifest_path in sorted(export_dir.glob("day=*/_manifest.json"), reverse=True):
        try:
            m = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            continue
        day_dir = manifest_path.parent.name
        ok = m["validation"]["success"] and m.get("self_test", {}).get("hits", 0) == 0
        warn = len(m.get("warnings", []))
        rows.append(
            f"<tr><td>{_e(m['day'])}</td><td>{_e(m['run_id'])}</td><td>{m['counts']['published_rows']:,}</td>"
            f"<td>{m['counts']['suppressed_rows']:,}</td><td>{m['counts']['rejected_rows']:,}</td><td>{m['k']}</td>"
            f"<td>{'<span class=ok>ok</span>' if ok else '<span class=bad>failed</span>'}"
            f"{f' <span class=warn>{warn} warning(s)</span>' if warn else ''}</td>"
            f"<td><a href='{_e(day_dir)}/_reports/privacy_report.html'>privacy report</a> &middot; "
            f"<a href='{_e(day_dir)}/_reports/data_docs/index.html'>data docs</a> &middot; "
            f"<a href='{_e(day_dir)}/_manifest.json'>manifest</a></td></tr>"
        )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(export)}: published nights</title>
<style>{STYLE}</style></head><body><h1>{_e(export)}: published nights</h1>
<table><tr><th>day</th><th>run</th><th>published</th><th>suppressed</th><th>rejected</th><th>k</th><th>checks</th>
<th>reports</th></tr>{"".join(rows)}</table></body></html>
"""
    export_dir.mkdir(parents=True, exist_ok=True)
    tmp = export_dir / f"._index.html.{os.getpid()}"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, export_dir / "_index.html")
    return export_dir / "_index.html"

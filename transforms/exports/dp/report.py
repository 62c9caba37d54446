"""The DP release's manifest, privacy-report sections and validation frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from transforms.backends import Backend
from transforms.config.policy import Policy
from transforms.exports.dictionary import fixed_levels
from transforms.exports.dp.protect import COLUMNS, window_names
from transforms.privacy import dp
from transforms.reporting import manifest as mf
from transforms.reporting.html import card, e
from transforms.storage import location, read_table


def build_manifest(ctx, policy: Policy, stats: dict, created_at: str) -> mf.DpManifest:
    anon = stats["anonymize"]
    d, info = policy.dp, anon["release"]
    fields = mf.night_fields(ctx, policy, stats, created_at)
    # Exact counts are data: published beside a DP release they would undo it (one person's
    # presence changes them). They stay in the private accounting file (protect.py).
    fields["minors"] = fields["minors"].model_copy(update={"rows_dropped": None, "people_dropped": None})
    fields["self_test"] = fields["self_test"].model_copy(
        update={"values_tested": None, "forms_tested": None, "published_values": None}
    )
    return mf.DpManifest(
        **fields,
        dimensions=fixed_levels(policy),
        release=mf.DpRelease(
            accounting=d.accounting,
            unit="person",
            rho_night=anon["rho_night"],
            spent_now=anon["spent_now"],
            reused=anon["reused"],
            epsilon=round(dp.epsilon(anon["rho_night"], d.delta), 6),
            delta=d.delta,
            budget_rho=d.budget.rho,
            budget_window_nights=d.budget.window_nights,
            window_spent=round(anon["window_spent"], 9),
            window_remaining=round(anon["window_remaining"], 9),
            # Those the stored release was made with (a release stored before they were recorded: the policy's).
            bounds=info.get("bounds")
            or {
                "max_titles_per_night": d.max_titles_per_night,
                "max_plays_per_title": d.max_plays_per_title,
                "max_watch_hours_per_title": d.max_watch_hours_per_title,
                "max_titles_per_window": d.max_titles_per_window,
            },
            window_nights=d.window_nights,
            window_measures=info["window"],
            drop_below_error=d.drop_below_error,
            measures=[mf.DpMeasure(**m) for m in info["measures"]],
            release_digest=_digest(location(anon["release_dir"])),
            budget_note=anon.get("budget_note"),
            release_policy_digest=anon.get("release_policy_digest"),
        ),
        columns=COLUMNS,
    )


def _digest(release_dir: Path) -> str:
    import json

    return json.loads((release_dir / "_release.json").read_text()).get("digest", "")


def frames(backend: Backend, policy: Policy, files: list[Path], stats: dict) -> dict[str, pd.DataFrame]:
    anon, pull = stats["anonymize"], stats["pull"]
    table = read_table([location(f) for f in files]).to_pandas()
    catalogue = set(read_table(location(anon["catalogue_file"]), columns=["title_id"]).column(0).to_pylist())
    info = anon["release"]
    return {
        "values": table,
        "schema": pd.DataFrame({"column": list(table.columns)}),
        "keys": pd.DataFrame([{"titles_outside_catalogue": int((~table["title_id"].isin(catalogue)).sum())}]),
        "release": pd.DataFrame(
            [
                {
                    "rho_charged": float(sum(m["rho"] for m in info["measures"])),
                    "rho_night": anon["rho_night"],
                    "window_remaining": anon["window_remaining"],
                }
            ]
        ),
        "run": pd.DataFrame(
            [
                {
                    "unaccounted_rows": pull["input_rows"]
                    - pull["rejected_rows"]
                    - pull.get("minor_rows", 0)
                    - anon["accounting"]["plays_in"],
                }
            ]
        ),
    }


def policy_in_words(policy: Policy) -> list[str]:
    d = policy.dp
    margins = " and ".join(f"<code>{e(','.join(m))}</code>" for m in policy.margin_list)
    last, every = window_names(policy)
    window = (
        f" Over the last {d.window_nights} nights, per title: <code>{e(last)}</code> (each person counted in at most "
        f"{d.max_titles_per_window} titles) and <code>{e(every)}</code>."
        if d.window_nights
        else ""
    )
    return [
        f"Publishes noisy audience figures, not rows: {e(', '.join(m.name for m in policy.measures))} per {margins}.{window}",
        "<b>Differential privacy, a viewer profile (account + profile) as the unit</b>: whatever an analyst knows "
        f"about everyone else, the releases of any {d.budget.window_nights} consecutive nights together are "
        f"{d.budget.rho:g}-zCDP (about ({dp.epsilon(d.budget.rho, d.delta):.3g}, {d.delta:g})-DP) for any one "
        "profile's viewing; releases outside the window add their own spend (no lifetime bound).",
        f"Each person counts for at most {d.max_titles_per_night} titles a night (the ones they played most), "
        f"{d.max_plays_per_title} plays and {d.max_watch_hours_per_title:g} hours per title, and one country, "
        "before any noise.",
        "Titles come from the night's catalogue and countries from the reference table (public keys): no title or "
        "country appears or vanishes because of one person.",
        f"Noise: OpenDP's discrete Gaussian; each night spends rho = {d.rho_per_night:g} split over the measures, "
        "recorded in a ledger kept across nights; a night that would exceed the budget is refused before any noise "
        "is drawn, and a rerun returns the stored release (never fresh noise).",
        (
            "After the noise (post-processing, no privacy cost): values are clamped at 0 and values below their own "
            "95% error bound are left out (a title or country by its viewers)."
            if d.drop_below_error
            else "After the noise values are clamped at 0; nothing is left out."
        ),
    ]


def cards(m: mf.DpManifest) -> str:
    r = m.release
    return "".join(
        [
            card("rho tonight", f"{r.rho_night:.4g}", f" zCDP, epsilon {r.epsilon:.3g} at delta {r.delta:g}"),
            card(
                "budget left",
                f"{r.window_remaining:.4g}",
                f" of {r.budget_rho:g} per {r.budget_window_nights} nights",
            ),
            card("this run spent", f"{r.spent_now:.4g}", " (stored release reused)" if r.reused else ""),
            card("values published", f"{sum(x.published for x in r.measures):,}"),
        ]
    )


def stale_policy(m: mf.DpManifest) -> str:
    """A stored release drawn under an earlier version of the policy: its figures are that
    version's (bounds, shares), while the sentences above describe the current policy."""
    drawn = m.release.release_policy_digest
    if not drawn or drawn == m.policy.digest:
        return ""
    return (
        f"<p class='warn'>This night's release was drawn under an earlier version of the policy "
        f"({e(drawn[:19])}&hellip;) and is returned as stored: its noise, bounds and figures in the table below "
        "are that version's; the policy sentences above describe the current one.</p>"
    )


def body(m: mf.DpManifest, policy: Policy) -> str:
    r = m.release
    rows = "".join(
        f"<tr><td>{e(x.grouping)}</td><td>{e(x.measure)}</td><td>{x.rho:.4g}</td><td>{x.sensitivity:.4g}</td>"
        f"<td>{x.scale:.4g}</td><td>± {x.error_95:,.4g}</td><td>{x.published:,} of {x.cells:,}</td></tr>"
        for x in r.measures
    )
    return f"""
<h2>Differential privacy</h2>
<p>Guarantee: {r.rho_night:.4g}-zCDP for tonight's release, with a viewer profile as the unit (about
({r.epsilon:.3g}, {r.delta:g})-DP); any {r.budget_window_nights} consecutive nights together at most
rho = {r.budget_rho:g} (about ({dp.epsilon(r.budget_rho, r.delta):.3g}, {r.delta:g})-DP). The tightest window holding tonight has spent {r.window_spent:.4g} and has
{r.window_remaining:.4g} left. {"This run returned the night's stored release: no noise was drawn and nothing was spent." if r.reused else f"This run spent {r.spent_now:.4g}."}</p>
{f"<p class='warn'>Budget changed: {e(r.budget_note)}.</p>" if r.budget_note else ""}
{stale_policy(m)}
<p>What it does not cover: a profile's data used by several windows over a longer time adds up
beyond one window's budget; a person with several profiles is protected per profile; figures of
other exports (the audience tables with suppression, the row extract) are protected by their own
models, not by this budget.</p>
<h3>Noise and error per measure</h3>
<table><tr><th>grouping</th><th>measure</th><th>rho</th><th>L2 sensitivity</th><th>noise scale</th>
<th>95% error</th><th>published</th></tr>{rows}</table>
<p class="sub">The noise keeps each value within its <code>error_95</code> of the exact bounded figure with
probability at least 95%; values kept only because they cleared that bound are biased upward near
it. Multi-night measures: {e(r.window_measures)}.</p>
<h2>Accounting</h2>
<p>Every play of the night was accounted for (rejected, of minors, outside the catalogue, over the
bounds, or counted; checked by validation), but the exact figures are not published here: next to
a DP release they would tell whether one person's plays are in the data. Operators find them in
the private work zone (<code>_dp/accounting/day={e(m.day)}.json</code>).</p>
"""

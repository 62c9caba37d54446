"""The aggregate kind's manifest and its sections of the privacy report."""

from __future__ import annotations

from transforms.config.policy import Policy
from transforms.context import RunContext
from transforms.exports.aggregate.extract import published_columns
from transforms.exports.dictionary import fixed_levels
from transforms.reporting import manifest as mf
from transforms.reporting.html import bar_chart, card, e

METHOD = (
    "primary suppression (fewer than min_viewers people, or one person above the dominance share), "
    "then secondary suppression by certificates: for every primary cell, a change of suppressed "
    "cells only that keeps every published cell and margin relation and raises the cell to its "
    "requirement (hypercube-style moves along one or two dimensions, and trades with fully "
    "suppressed titles), or, within a work budget, an exact linear program over the suppressed cells; "
    "cells are added, cheapest in people first, until every primary cell has one"
)


def build_manifest(ctx: RunContext, policy: Policy, stats: dict, created_at: str) -> mf.AggregateManifest:
    pull, anon = stats["pull"], stats["anonymize"]
    primary = anon["primary_few_people"] + anon["primary_dominated"]
    counted = anon["plays_counted"]
    hours = next(iter(anon["seconds_counted"]), None)
    hidden = counted - anon["plays_visible"]
    people = _people_figures(anon["people_in"], anon["people_visible"], policy.protection.min_viewers)
    return mf.AggregateManifest(
        **mf.night_fields(ctx, policy, stats, created_at),
        protection=mf.Protection(**policy.protection.model_dump()),
        dimensions=fixed_levels(policy),
        measures={m.name: m.kind for m in policy.measures},
        margins=anon["margins"],
        people_add_up_along=anon["people_additive"],
        cells=mf.CellCounts(
            total=anon["cells"],
            published=anon["published_cells"],
            primary_few_people=anon["primary_few_people"],
            primary_dominated=anon["primary_dominated"],
            secondary=anon["secondary"],
            by_margin=anon["by_margin"],
            by_dimension=anon["by_dimension"],
        ),
        visible=mf.Visible(
            people_share=people["share"],
            plays_share=round(anon["plays_visible"] / counted, 6) if counted else 0.0,
            hours_share=(
                round(anon["seconds_visible"][hours] / anon["seconds_counted"][hours], 6)
                if hours and anon["seconds_counted"][hours]
                else 0.0
            ),
        ),
        audit=mf.Audit(
            method=METHOD,
            rounds=anon["rounds"],
            primary_cells=primary,
            certified=primary,  # validation's audit suite fails the run otherwise
            result=(
                f"every one of the {primary:,} primary cells keeps a range, given the published cells and "
                f"margins, that reaches at least {policy.protection.min_viewers} viewers (or, for a dominated "
                "cell, a total its largest contributor would not dominate)"
            ),
        ),
        columns=published_columns(policy),
        counts=mf.AggregateCounts(
            input_rows=pull["input_rows"],
            published_rows=anon["plays_visible"],
            suppressed_rows=hidden + anon["plays_clipped"],
            rejected_rows=pull["rejected_rows"],
            rejected_by_reason=pull["rejected_by_reason"],
            minor_rows=pull.get("minor_rows", 0),
            plays_in_suppressed_cells=hidden,
            clipped_rows=anon["plays_clipped"],
            # Not published: the plays of uncatalogued titles are counted under a coarse label whose
            # cells may be suppressed, and their number would tell those cells' plays.
            plays_not_in_catalogue=None,
            people_in=people["in"],
            people_published=people["published"],
            people_fully_suppressed=people["hidden"],
        ),
    )


def _people_figures(people_in: int, visible: int, min_viewers: int) -> dict:
    """The night's people figures as the manifest may state them. A count of people is a
    cohort: one below `min_viewers` is withheld (None), and so is every figure it could be
    computed back from (the night's people when the grand total itself is small; those
    published and the share visible when fewer than `min_viewers` are hidden)."""
    hidden = people_in - visible
    if people_in < min_viewers:
        return {"in": None, "published": None, "hidden": None, "share": None}
    if 0 < hidden < min_viewers:
        return {"in": people_in, "published": None, "hidden": None, "share": None}
    return {"in": people_in, "published": visible, "hidden": hidden, "share": round(visible / people_in, 6)}


def policy_in_words(policy: Policy) -> list[str]:
    p = policy.protection
    dims = ", ".join(f"<code>{e(c)}</code> at the {e(level)} level" for c, level in fixed_levels(policy).items())
    measures = ", ".join(f"<code>{e(m.name)}</code> ({e(m.kind.replace('_', ' '))})" for m in policy.measures)
    margins = "; ".join(e(",".join(m) or "the grand total") for m in policy.margin_list)
    return [
        f"Publishes audience cells, not rows: dimensions {dims}; measures {measures}.",
        f"Margins published: {margins}. A margin's missing dimensions read <code>*</code>; the "
        "<code>grouping</code> column names the margin.",
        f"People are counted through a keyed pseudonym inside the run only (recipient "
        f"<code>{e(policy.recipient)}</code>, epoch {e(policy.pseudonym.epoch)}); no pseudonym is published.",
        f"Each person's contribution to a cell is bounded before anything is summed: at most "
        f"{p.max_plays_per_person} plays and {p.max_watch_hours_per_person:g} hours per person and finest cell.",
        f"A cell is published only with at least <b>{p.min_viewers}</b> distinct viewers and no viewer holding more "
        f"than {p.dominance:.0%} of its plays or hours (primary suppression).",
        "Extra cells are suppressed (secondary suppression) until no suppressed cell can be computed back or "
        "narrowed below those thresholds from the published cells and their sums.",
        "Each table covers one night. Counts over several nights are not published by this kind.",
    ]


def cards(m: mf.AggregateManifest) -> str:
    c, v = m.cells, m.visible
    return "".join(
        [
            card("min viewers per cell", m.protection.min_viewers),
            card("cells published", f"{c.published:,}", f" of {c.total:,}"),
            card(
                "suppressed",
                f"{c.primary_few_people + c.primary_dominated:,} + {c.secondary:,}",
                " primary + secondary",
            ),
            card("plays visible", f"{v.plays_share:.1%}", " in published finest cells"),
            card(
                "viewers visible",
                "withheld" if v.people_share is None else f"{v.people_share:.1%}",
                " in a published finest cell",
            ),
        ]
    )


def body(m: mf.AggregateManifest, policy: Policy) -> str:
    c, v, counts = m.cells, m.visible, m.counts
    rows = "".join(
        f"<tr><td>{e(g)}</td><td>{n['published']:,}</td><td>{n['few_people']:,}</td><td>{n['dominated']:,}</td>"
        f"<td>{n['secondary']:,}</td></tr>"
        for g, n in c.by_margin.items()
    )
    dims = "".join(
        f"<tr><td>{e(d)}</td><td>{n['few_people']:,}</td><td>{n['dominated']:,}</td><td>{n['secondary']:,}</td></tr>"
        for d, n in c.by_dimension.items()
    )
    additive = ", ".join(m.people_add_up_along) or "none"
    shares = {"plays": 100 * v.plays_share, "watch hours": 100 * v.hours_share}
    if v.people_share is not None:
        shares["viewers"] = 100 * v.people_share
    minors = f" + {counts.minor_rows:,} of minors dropped" if counts.minor_rows else ""
    return f"""
<h2>How the plays reconcile</h2>
<p>{counts.input_rows:,} plays in = {counts.published_rows:,} counted in published finest cells +
{counts.plays_in_suppressed_cells:,} in suppressed finest cells + {counts.clipped_rows:,} over the contribution
bounds (not counted anywhere) + {counts.rejected_rows:,} rejected{minors}. Margins (per title, per country, the
grand total, ...) also count the plays of suppressed finer cells, so they are larger than the sum of the published
finer cells they cover. Plays of titles missing from the night's catalogue are counted under a coarse label (their
content type); how many is not published, since those cells may be suppressed.</p>
<h2>Cells</h2>
<p>{c.total:,} cells in all margins; {c.published:,} published; {c.primary_few_people:,} suppressed for fewer than
{m.protection.min_viewers} viewers, {c.primary_dominated:,} for a dominant viewer, {c.secondary:,} suppressed so
that those cannot be computed back.</p>
<table><tr><th>grouping</th><th>published</th><th>few viewers</th><th>dominated</th><th>secondary</th></tr>{rows}</table>
<h3>Suppressed cells by dimension (margins holding it)</h3>
<table><tr><th>dimension</th><th>few viewers</th><th>dominated</th><th>secondary</th></tr>{dims}</table>
<h3>What stays visible</h3>
{bar_chart(shares, "%", fmt="{:.1f}")}
<p class="sub">Share counted in a published cell of the finest grouping (title, country and age band). Coarser
margins show more: a title total is published even where its cells by country are not.</p>
<h2>Audit</h2>
<p>{e(m.audit.result)}. Method: {e(m.audit.method)} ({m.audit.rounds} rounds). Distinct viewers add up along:
{e(additive)} (a person has one value there tonight); along the other dimensions a margin holds at least each
child and at most their sum. The test suite re-checks such tables with a linear-programming auditor written apart
from the engine.</p>
<h2>What this table does not protect against</h2>
<ul>
<li>Comparing tables of several nights: each night is protected on its own; a cohort present on many nights
(the same people every night) is not hidden by this kind. Use the differentially private release for counts
over several nights.</li>
<li>What the published cells say about whole groups (a country where nobody watched a genre, a title popular
with one age band): that is the point of the table, not a leak about one person.</li>
<li>Published tables joined with other releases computed from the same plays with other margins.</li>
<li>Knowledge beyond the table: the ranges above assume an attacker who knows the published cells, the
margins, the titles, countries and age bands, and that counts are non-negative. Someone who also knows
which cells are empty, or that a friend is in a suppressed cell, can narrow some suppressed cells further
(the test suite measures the first on a sample; neither is guaranteed).</li>
</ul>
"""

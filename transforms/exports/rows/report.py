"""The rows kind's manifest and its sections of the privacy report."""

from __future__ import annotations

from transforms.config.policy import Policy
from transforms.context import RunContext
from transforms.privacy.metrics import DESCRIPTION
from transforms.reporting import manifest as mf
from transforms.reporting.html import bar_chart, card, e


def build_manifest(ctx: RunContext, policy: Policy, stats: dict, created_at: str) -> mf.Manifest:
    pull, anon = stats["pull"], stats["anonymize"]
    return mf.Manifest(
        **mf.night_fields(ctx, policy, stats, created_at),
        k=policy.privacy.k,
        suppression_limit=policy.privacy.suppression_limit,
        quasi_identifiers=policy.qi_columns,
        levels=anon["levels"],
        anonymization=mf.Anonymization(
            objective=anon["metric"],
            levels_source=anon["levels_source"],
            loss=anon["loss"],
            precision=anon["precision"],
            discernibility=anon["discernibility"],
            suppression_unit=anon["suppression_unit"],
            suppressed_rows_share=anon["suppression_share"],
            people_with_suppressed_rows=anon["people_with_suppressed_rows"],
            risk_before=anon["risk_before"],
            risk_after=anon["risk_after"],
            l_diversity=anon["l_diversity"],
            loss_by_attribute=anon["loss_by_attribute"],
            suppressed_by_value=anon.get("suppressed_by_value", {}),
            objective_value=anon.get("objective_value"),
            finer_levels=anon.get("finer_levels", {}),
            cost_driver=cost_driver(policy, anon),
            class_size_histogram=anon["class_size_histogram"],
            metrics=DESCRIPTION,
        ),
        history=history_section(policy, anon, pull),
        search=mf.Search(
            evaluated=anon["search_evaluated"], lattice=anon["search_lattice"], seconds=anon["search_seconds"]
        ),
        columns=policy.published_columns,
        counts=mf.Counts(
            input_rows=pull["input_rows"],
            published_rows=anon["published_rows"],
            suppressed_rows=anon["suppressed_rows"],
            rejected_rows=pull["rejected_rows"],
            rejected_by_reason=pull["rejected_by_reason"],
            minor_rows=pull.get("minor_rows", 0),
            people_in=anon["input_people"],
            people_published=anon["published_people"],
            people_fully_suppressed=anon["suppressed_people"],
            classes=anon["classes"],
            min_class_people=anon["min_class_people"],
            avg_class_people=round(anon["avg_class_people"], 2),
            gated_values=anon["gated_values"],
            gated_rows=anon["gated_rows"],
        ),
    )


def finer_text(finer: dict | None, limit: float, chosen: float | None, unit: str = "rows") -> str:
    """What publishing an attribute one level finer would take, in words (`unit`: what the
    suppression limit counts; the share stated is always of rows)."""
    if not finer:
        return "already at its finest allowed level"
    if not finer["feasible"]:
        bound = "" if finer["exact"] else "at least "
        if unit == "people":
            return (
                f"one level finer ({finer['level']}) would suppress plays of more people than the {limit:.0%} "
                f"limit of people allows ({bound}{finer['suppressed_share']:.1%} of rows)"
            )
        return (
            f"one level finer ({finer['level']}) would need {bound}{finer['suppressed_share']:.1%} of rows "
            f"suppressed, over the {limit:.0%} limit"
        )
    more = f" ({finer['objective']:.3f} against {chosen:.3f})" if chosen is not None else ""
    if finer["exact"] and chosen is not None and finer["objective"] < chosen:  # kept levels (stable_levels)
        return (
            f"one level finer ({finer['level']}) meets every model and loses less information{more}: "
            "last night's levels were kept (stable_levels)"
        )
    if not finer["exact"] and chosen is not None:  # only bounded: at least that objective, feasibility open
        return (
            f"one level finer ({finer['level']}) would lose more information overall (its objective is at least "
            f"{finer['objective']:.3f} against {chosen:.3f}), with at least {finer['suppressed_share']:.1%} of rows suppressed"
        )
    return f"one level finer ({finer['level']}) meets every model but loses more information overall{more}"


def cost_driver(policy: Policy, anon: dict) -> str | None:
    """The attribute with the largest weighted share of the loss, and why it is not finer."""
    weights = {qi.column: qi.weight for qi in policy.quasi_identifiers}
    share = {q: weights.get(q, 1.0) * v for q, v in anon["loss_by_attribute"].items()}
    if not share or max(share.values()) <= 0:
        return None
    q = max(share, key=lambda c: (share[c], c))
    finer = anon.get("finer_levels", {}).get(q)
    why = finer_text(
        finer, policy.privacy.suppression_limit, anon.get("objective_value"), policy.privacy.suppression_unit
    )
    return f"{q} (published at {anon['levels'][q]}, weight {weights.get(q, 1.0):g}): {why}"


def history_section(policy: Policy, anon: dict, pull: dict) -> mf.History | None:
    h = policy.privacy.history
    info = anon.get("history") or {}
    if h is None or not info:
        return None
    k = policy.privacy.k
    epoch = policy.pseudonym.epoch
    window = "one night" if epoch == "day" else f"the {epoch} (pseudonyms stay the same within it)"
    return mf.History(
        m=h.m,
        epoch=epoch,
        epoch_nights=info.get("epoch_nights", []),
        person_attributes=h.person,
        play_attributes=h.play,
        title_level=info["title_level"],
        plays_by_title_level=info["plays_by_title_level"],
        titles_generalized_above_level=info["titles_generalized_above_level"],
        title_codes_published=info["title_codes_published"],
        plays_not_in_catalogue=pull.get("plays_not_in_catalogue", 0),
        suppressed_rows_for_history=info["suppressed_rows_for_history"],
        suppressed_rows_for_row_k=info["suppressed_rows_for_row_k"],
        risk=info["risk"],
        linkage=info.get("linkage"),
        resists=(
            f"Someone who knows a person's {', '.join(h.person)} and any {h.m} of their plays over {window} "
            f"({', '.join(h.play)} of each) finds at least {k} people in the extract who match."
        ),
        does_not_resist=[
            f"more than {h.m} known plays"
            + (
                f": see the share of people singled out with {h.m + 1} (risk m{h.m + 1})"
                if f"m{h.m + 1}" in info["risk"]
                else ""
            )
            + (
                ""
                if epoch == "day"
                else f"; one title watched on more than {h.m} nights of the {epoch} is that many plays"
            ),
            "linking a person's nights by their pattern of plays (see linkage): "
            + (
                "pseudonyms change every night, but habits can still match"
                if epoch == "day"
                else f"pseudonyms link the nights of a {epoch} on purpose; a new epoch starts unlinked"
            ),
            "what the data itself reveals about groups (a whole group that watched one genre, a location's habits)",
            "knowledge from outside the extract combined with the watch times, which are not part of the m plays",
        ],
    )


def policy_in_words(policy: Policy) -> list[str]:
    drops = sorted(c for c, a in policy.columns.items() if a == "drop")
    reduced = sorted(c for c, a in policy.columns.items() if a == "reduce")
    p = policy.privacy
    return [
        f"Viewers are replaced by a pseudonym (<code>{e(policy.pseudonym.column)}</code>): a keyed HMAC-SHA256 of "
        f"{e(' + '.join(policy.pseudonym.person))}, under a key derived for the recipient "
        f"<b>{e(policy.recipient)}</b> (epoch: {e(policy.pseudonym.epoch)}), so no other recipient can link it.",
        f"Never published: {e(', '.join(drops))}."
        + (f" Reduced before use: {e(', '.join(reduced))}." if reduced else ""),
        f"Every published combination of {e(', '.join(policy.qi_columns))} is shared by at least <b>{p.k}</b> "
        f"distinct people; at most {p.suppression_limit:.0%} of {e(p.suppression_unit)} may be suppressed to reach it.",
        *([f"Titles seen by fewer than {p.k} people are replaced by <code>*</code>."] if p.rare_values else []),
        *(
            [
                f"Nobody is singled out by what they watched: anyone who knows a person's {e(', '.join(p.history.person))} "
                f"and any <b>{p.history.m}</b> of their plays ({e(', '.join(p.history.play))}) finds at least "
                f"<b>{p.k}</b> people who match, over {'one night' if policy.pseudonym.epoch == 'day' else 'the ' + e(policy.pseudonym.epoch)}. "
                "Titles watched by too few people are published as their series, genre or type instead, and a "
                "generalized label never stands for a single title.",
            ]
            if p.history
            else []
        ),
        f"Generalization levels are chosen to minimize <b>{e(p.metric)}</b>"
        + (", reusing the previous night's levels while they still qualify." if p.stable_levels else "."),
        f"Extracts are kept {policy.retention_days} days.",
    ]


def cards(m: mf.Manifest) -> str:
    a = m.anonymization
    return "\n".join(
        [
            card("k (people)", m.k, f"smallest class: {m.counts.min_class_people}"),
            card(
                "suppressed",
                f"{m.suppressed_share:.1%}" + (" of people" if a.suppression_unit == "people" else ""),
                f"limit {m.suppression_limit:.0%} of {a.suppression_unit}"
                + (f"; {a.suppressed_rows_share:.1%} of rows" if a.suppression_unit == "people" else ""),
            ),
            card("highest risk, one row", f"{a.risk_after['highest']:.3f}", f"was {a.risk_before['highest']:.3f}"),
            *_history_card(m),
        ]
    )


def _history_card(m: mf.Manifest) -> list[str]:
    """The share of people singled out by the most plays measured (more than m when possible)."""
    h = m.history
    if h is None or not h.risk:
        return []
    most = max(h.risk, key=lambda name: int(name[1:]))
    r = h.risk[most]
    plays = int(most[1:])
    return [
        card(
            f"singled out, {plays} plays known",
            f"{'at least ' if not r['after'].exact else ''}{r['after'].unique:.1%}",
            f"was {'at least ' if not r['before'].exact else ''}{r['before'].unique:.1%}",
        )
    ]


def body(m: mf.Manifest, policy: Policy) -> str:
    a, c = m.anonymization, m.counts
    weights = {qi.column: qi.weight for qi in policy.quasi_identifiers}
    levels = "".join(
        f"<tr><td>{e(q)}</td><td>{e(lv)}</td><td>{weights.get(q, 1.0):g}</td><td>{a.loss_by_attribute.get(q, 0):.3f}</td>"
        f"<td>{e(finer_text(a.finer_levels.get(q), m.suppression_limit, a.objective_value, a.suppression_unit))}</td></tr>"
        for q, lv in m.levels.items()
    )
    driver = f"<p><b>What drove the cost:</b> {e(a.cost_driver)}.</p>" if a.cost_driver else ""
    risk = (
        f"<tr><th></th><th>highest</th><th>average</th></tr>"
        f"<tr><td>before (finest allowed levels)</td><td>{a.risk_before['highest']:.3f}</td>"
        f"<td>{a.risk_before['average']:.3f}</td></tr>"
        f"<tr><td>after (published)</td><td>{a.risk_after['highest']:.3f}</td>"
        f"<td>{a.risk_after['average']:.3f}</td></tr>"
    )
    ld = a.l_diversity or {}
    l_line = (
        f"<p>Diversity of <code>{e(ld['attribute'])}</code> within each combination: at least "
        f"{e(ld['distinct_l'])} distinct values (entropy l {e(ld['entropy_l'])}).</p>"
        if ld
        else ""
    )
    histogram = {k: float(n) for k, n in a.class_size_histogram.items()}
    gating = (
        f"<p>Rare values: {sum(c.gated_values.values()):,} values replaced ({sum(c.gated_rows.values()):,} rows).</p>"
        if c.gated_values
        else ""
    )
    return f"""<h2>Generalization</h2>
<table><tr><th>attribute</th><th>level published</th><th>weight</th><th>loss</th><th>why not finer</th></tr>{levels}</table>
{driver}
<p>Information loss ({e(a.objective)} objective): Loss {a.loss:.3f}, precision {a.precision:.3f},
discernibility {a.discernibility:,.0f}. Levels from: {e(a.levels_source)}; lattice search evaluated
{m.search.evaluated} of {m.search.lattice} generalizations.</p>
<h3>Loss by attribute</h3>{bar_chart(a.loss_by_attribute, "", fmt="{:.3f}")}
{suppression_by_group(a.suppressed_by_value, a.suppressed_rows_share)}
<h2>Combinations and re-identification risk</h2>
<p>{c.classes:,} published combinations, {c.avg_class_people:,} people on average. Prosecutor risk is 1 / people
in a record's combination.</p>
<h3>Combinations by size (people)</h3>{bar_chart(histogram, "")}
<table>{risk}</table>{l_line}
{gating}
{history_html(m)}"""


def history_html(m: mf.Manifest) -> str:
    h = m.history
    if h is None:
        return ""

    def pct(x: float) -> str:
        return f"{x:.1%}"

    rows = "".join(
        f"<tr><td>{e(name.removeprefix('m'))}</td><td>{pct(v['before'].unique)}</td><td>{pct(v['before'].below_k)}</td>"
        f"<td>{pct(v['after'].unique)}</td><td>{pct(v['after'].below_k)}</td></tr>"
        for name, v in sorted(h.risk.items())
    )
    approximate = any(
        not v[when].exact or v[when].capped_people for v in h.risk.values() for when in ("before", "after")
    )
    bounded = "; some figures are lower bounds (the check was bounded)" if approximate else ""
    link = h.linkage
    before = (
        f" Had neither night been protected (both at their finest allowed levels), the same attack would link "
        f"<b>{pct(link['linked_share_before'])}</b> of {link['people_tried_before']:,}."
        if link and "linked_share_before" in link
        else " (No baseline before protection: the previous night's state predates it.)"
    )
    tried = f"{link['people_tried']:,}" if link else ""
    if link and link.get("people_in_both_nights", 0) > link["people_tried"]:
        tried = f"a sample of {tried} of the {link['people_in_both_nights']:,}"
    link_html = (
        f"<p>Linking nights: of {tried} people present on {e(link['previous_night'])} and tonight, one attack "
        f"(matching person attributes and overlapping title labels) links <b>{pct(link['linked_share'])}</b> to "
        f"their pseudonym tonight.{before} This is what that attack achieves, not a bound on every attack: one "
        "using part of day and device as well, or mapping labels across nights whose levels differ, can do "
        "better.</p>"
        if link
        else "<p>Linking nights: no previous night to measure against.</p>"
    )
    epoch_note = (
        f" Over a {e(h.epoch)} epoch the published figures count the people who match among tonight's viewers "
        "(with their earlier nights of the epoch), not among everyone in the epoch: they can overstate the risk, "
        "never understate it."
        if h.epoch != "day"
        else ""
    )
    plays = {k: float(v) for k, v in h.plays_by_title_level.items()}
    not_resisted = "".join(f"<li>{e(x)}</li>" for x in h.does_not_resist)
    return f"""<h2>People and their viewing histories</h2>
<p class="card" style="display:block"><b style="font-size:1rem">Resists:</b> {e(h.resists)}</p>
<p>Pseudonym epoch: {e(h.epoch)}{(" (also protected with " + e(", ".join(h.epoch_nights)) + ")") if h.epoch_nights else ""}.
Titles are published from the <b>{e(h.title_level)}</b> level up: {h.titles_generalized_above_level:,} of
{h.title_codes_published:,} published titles went higher (too few viewers, or a label that would stand for one title).
{h.plays_not_in_catalogue:,} plays named a title missing from the night's catalogue (published only at genre level or above).
Suppressed for history protection: {h.suppressed_rows_for_history:,} plays; for row k: {h.suppressed_rows_for_row_k:,}.</p>
<h3>Plays by published title level</h3>{bar_chart(plays, " plays")}
<h3>Attacker who knows a person's attributes and some of their plays</h3>
<table><tr><th>plays known</th><th>singled out, before</th><th>fewer than k, before</th><th>singled out, published</th>
<th>fewer than k, published</th></tr>{rows}</table>
<p class="sub">Before: the night at the finest levels the policy allows. Published: what the extract shows{bounded}.{epoch_note}</p>
{link_html}
<h3>What this does not resist</h3><ul>{not_resisted}</ul>
"""


def suppression_by_group(by_value: dict[str, list[dict]], overall: float) -> str:
    """Whom suppression hits: per attribute, the share of each published value's plays
    suppressed, beside the night's overall share (groups far above it are also warnings)."""
    if not by_value:
        return ""
    parts = [
        f"<h3>Suppression by group</h3><p>Share of each group's plays suppressed; {overall:.1%} overall. "
        "A group far above that is under-represented in the extract tonight: compare groups with care.</p>"
    ]
    for attribute, groups in by_value.items():
        if len(groups) < 2:
            continue  # one value (e.g. `*`): nothing to compare
        shares = {str(g["value"]): 100 * g["share"] for g in groups[:12]}
        parts.append(f"<h4>{e(attribute)}</h4>{bar_chart(shares, '%', fmt='{:.1f}')}")
    return "".join(parts)

"""The rows kind's manifest and its sections of the privacy report."""

from __future__ import annotations

from pathlib import Path

from transforms.config.policy import Policy
from transforms.context import DATA_DOCS, REPORTS, RunContext
from transforms.privacy.metrics import DESCRIPTION
from transforms.reporting import manifest as mf
from transforms.reporting.html import bar_chart, card, e


def build_manifest(ctx: RunContext, policy: Policy, stats: dict, created_at: str) -> mf.Manifest:
    pull, anon, pseudo, val = stats["pull"], stats["anonymize"], stats["pseudonymize"], stats["validate"]
    return mf.Manifest(
        export=policy.export,
        day=ctx.day,
        run_id=ctx.run_id,
        created_at=created_at,
        policy=mf.PolicyRef(file=Path(policy.source_path).name, digest=policy.digest),
        pseudonym=mf.PseudonymInfo(
            column=policy.pseudonym.column,
            key_id=pseudo["key_id"],
            recipient=pseudo["recipient"],
            epoch=policy.pseudonym.epoch,
            epoch_label=pseudo["epoch"],
        ),
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
            class_size_histogram=anon["class_size_histogram"],
            metrics=DESCRIPTION,
        ),
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
            people_in=anon["input_people"],
            people_published=anon["published_people"],
            people_fully_suppressed=anon["suppressed_people"],
            classes=anon["classes"],
            min_class_people=anon["min_class_people"],
            avg_class_people=round(anon["avg_class_people"], 2),
            gated_values=anon["gated_values"],
            gated_rows=anon["gated_rows"],
        ),
        self_test=mf.SelfTest(**val["self_test"]),
        validation=mf.Validation(
            success=val["success"],
            expectations=val["expectations"],
            suites=val["suites"],
            data_docs=f"{REPORTS}/{DATA_DOCS}/index.html",
        ),
        stage_seconds={name: summary["seconds"] for name, summary in stats.items() if "seconds" in summary},
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
        f"Titles seen by fewer than {p.k} people are replaced by <code>*</code>.",
        f"Generalization levels are chosen to minimize <b>{e(p.metric)}</b>"
        + (", reusing the previous night's levels while they still qualify." if p.stable_levels else "."),
        f"Extracts are kept {policy.retention_days} days.",
    ]


def cards(m: mf.Manifest) -> str:
    a = m.anonymization
    return "\n".join([
        card("k (people)", m.k, f"smallest class: {m.counts.min_class_people}"),
        card("suppressed", f"{a.suppressed_rows_share:.1%}", f"limit {m.suppression_limit:.0%} of {a.suppression_unit}"),
        card("highest risk", f"{a.risk_after['highest']:.3f}", f"was {a.risk_before['highest']:.3f}"),
    ])  # fmt: skip


def body(m: mf.Manifest, policy: Policy) -> str:
    a, c = m.anonymization, m.counts
    levels = "".join(
        f"<tr><td>{e(q)}</td><td>{e(lv)}</td><td>{a.loss_by_attribute.get(q, 0):.3f}</td></tr>"
        for q, lv in m.levels.items()
    )
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
    return f"""<h2>Generalization</h2>
<table><tr><th>attribute</th><th>level published</th><th>loss</th></tr>{levels}</table>
<p>Information loss ({e(a.objective)} objective): Loss {a.loss:.3f}, precision {a.precision:.3f},
discernibility {a.discernibility:,.0f}. Levels from: {e(a.levels_source)}; lattice search evaluated
{m.search.evaluated} of {m.search.lattice} generalizations.</p>
<h3>Loss by attribute</h3>{bar_chart(a.loss_by_attribute, "", fmt="{:.3f}")}
<h2>Combinations and re-identification risk</h2>
<p>{c.classes:,} published combinations, {c.avg_class_people:,} people on average. Prosecutor risk is 1 / people
in a record's combination.</p>
<h3>Combinations by size (people)</h3>{bar_chart(histogram, "")}
<table>{risk}</table>{l_line}
<p>Rare values: {sum(c.gated_values.values()):,} titles replaced by <code>*</code> ({sum(c.gated_rows.values()):,} rows).</p>
"""

"""Protect a row export: k-anonymity counted in people, and (with `privacy.history`) people's
viewing histories, (k, k^m)-anonymity; then any rare-value gates.

Reads   work/generalized.parquet, work/lookups/*.parquet
Writes  work/decision/pub_<qi>.parquet: per lookup id, the label (and companions) published
        work/decision/suppressed.parquet: the suppressed (person, lowest codes) rows
        work/decision/gated_<key>.parquet: values replaced because fewer than k people saw them

Every combination of published quasi-identifier values (but the history's title) is shared by
at least k distinct pseudonyms; with a history policy, anyone who knows a person's attributes
and any m of their plays of the night also finds at least k people who match, titles are cut
up their hierarchy instead of blanked, and no generalized title label stands for a single title.
Plays that cannot be published are suppressed (removed and counted). The rows themselves are
written once, by the validate stage, from `generalized` and this decision.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace

from transforms import storage
from transforms.backends import Backend, sql
from transforms.config.policy import Policy
from transforms.context import Views, WorkFiles
from transforms.errors import PrivacyError
from transforms.exports.rows import history
from transforms.privacy import metrics
from transforms.privacy.engine import Attribute, Engine, HistorySpec, PastItems, Problem
from transforms.privacy.hierarchies import Hierarchy
from transforms.reporting.manifest import previous_manifest
from transforms.runtime import StageRun

log = logging.getLogger(__name__)


@dataclass
class ProtectResult:
    k: int
    levels: dict[str, str]
    level_numbers: dict[str, int]
    input_rows: int
    input_people: int
    published_rows: int
    published_people: int
    suppressed_rows: int
    suppressed_people: int
    classes: int
    min_class_people: int
    avg_class_people: float
    loss: float = 0.0
    precision: float = 0.0
    discernibility: float = 0.0
    metric: str = "loss"
    suppression_unit: str = "rows"
    people_with_suppressed_rows: int = 0
    levels_source: str = "search"
    risk_before: dict[str, float] = field(default_factory=dict)
    risk_after: dict[str, float] = field(default_factory=dict)
    l_diversity: dict[str, object] = field(default_factory=dict)
    class_size_histogram: dict[str, int] = field(default_factory=dict)
    loss_by_attribute: dict[str, float] = field(default_factory=dict)
    search_evaluated: int = 0
    search_lattice: int = 0
    search_seconds: float = 0.0
    gated_values: dict[str, int] = field(default_factory=dict)
    gated_rows: dict[str, int] = field(default_factory=dict)
    history: dict[str, object] = field(default_factory=dict)
    engine_seconds: dict[str, float] = field(default_factory=dict)
    suppressed_by_value: dict[str, list[dict]] = field(default_factory=dict)
    #: Per attribute above its lowest level: what publishing it one level finer would take.
    finer_levels: dict[str, dict] = field(default_factory=dict)
    objective_value: float | None = None

    @property
    def suppression_share(self) -> float:
        return self.suppressed_rows / self.input_rows if self.input_rows else 0.0


def problem(policy: Policy, hierarchies: dict[str, Hierarchy]) -> Problem:
    """The engine's view of a row policy: attributes, models, limit and objective."""
    p = policy.privacy
    attributes = [
        Attribute(qi.column, hierarchies[qi.column], qi.level_range(hierarchies[qi.column]), qi.weight)
        for qi in policy.quasi_identifiers
    ]
    h = p.history
    history = HistorySpec(h.m, tuple(h.person), tuple(h.play), h.title) if h else None
    return Problem(
        source=Views.GENERALIZED,
        person=policy.pseudonym.column,
        attributes=attributes,
        k=p.k,
        suppression_limit=p.suppression_limit,
        unit=p.suppression_unit,
        metric=p.metric,
        sensitive=p.sensitive,
        l=p.l or 0,
        history=history,
    )


def register_inputs(backend: Backend, policy: Policy, work: WorkFiles) -> None:
    backend.register_parquet(Views.GENERALIZED, work.generalized)
    for qi in policy.qi_columns:
        backend.register_parquet(Views.lookup(qi), work.lookup(qi))


def preferred_levels(s: StageRun, hierarchies: dict[str, Hierarchy]) -> tuple[int, ...] | None:
    """Last night's levels, when `stable_levels` asks to keep them while they still qualify."""
    if not s.policy.privacy.stable_levels:
        return None
    previous = previous_manifest(s.ctx.layout, s.policy.export, s.ctx.day_date)
    levels = getattr(previous, "levels", None)
    qis = s.policy.qi_columns
    if not levels or set(levels) != set(qis):
        return None
    names = [hierarchies[q].level_names for q in qis]
    if not all(levels[q] in n for q, n in zip(qis, names, strict=True)):
        return None
    return tuple(n.index(levels[q]) for q, n in zip(qis, names, strict=True))


def gates(policy: Policy) -> dict[str, dict[str, str]]:
    """Published column -> the gate that rewrites it (its key and the replacement's parameter name)."""
    out = {}
    for i, gate in enumerate(policy.privacy.rare_values):
        for column in gate.columns:
            out[column] = {"key": gate.key, "param": f"replacement{i}"}
    return out


def gate_params(policy: Policy) -> dict[str, str]:
    return {f"replacement{i}": g.replacement for i, g in enumerate(policy.privacy.rare_values)}


def run(s: StageRun) -> dict:
    s.needs("generalize")
    policy, b = s.policy, s.backend
    register_inputs(b, policy, s.work)
    hierarchies = policy.hierarchies()
    engine = Engine(b, problem(policy, hierarchies))
    nights = []
    if policy.privacy.history:
        # The epoch's other published nights, whose items tonight's plays are protected with.
        nights = history.history_set(s.ctx.layout, policy, s.ctx.day_date)
        engine.load()
        past = history.encode_past(history.past_items(b, policy, nights), policy)
        if past is not None:
            engine.p = replace(engine.p, past=PastItems(*past))
    found = engine.solve(preferred_levels(s, hierarchies))
    if found.best is None:
        raise PrivacyError(
            f"no generalization meets k={policy.privacy.k} within the suppression_limit of "
            f"{policy.privacy.suppression_limit:.1%} (even the most general levels allowed); "
            "lower k, raise the limit, or allow higher max_level values in the policy"
        )
    qis = policy.qi_columns
    t_finer = time.perf_counter()
    finer = {qis[a]: e for a, e in engine.finer_neighbours(found).items()}
    log.info(
        "anonymize: what one level finer would take, for %d attributes, in %.2fs",
        len(finer),
        time.perf_counter() - t_finer,
    )
    levels = dict(zip(qis, found.best.levels, strict=True))
    engine.apply(levels)
    m = engine.measure(found)
    result = ProtectResult(
        k=policy.privacy.k,
        levels={q: hierarchies[q].level_names[levels[q]] for q in qis},
        level_numbers=levels,
        input_rows=m.input_rows,
        input_people=m.input_people,
        published_rows=m.published_rows,
        published_people=m.published_people,
        suppressed_rows=m.suppressed_rows,
        # People all of whose plays were suppressed: they vanish from the extract entirely.
        suppressed_people=m.input_people - m.published_people,
        classes=m.classes,
        min_class_people=m.min_class_people,
        avg_class_people=m.avg_class_people,
        loss=m.loss,
        precision=m.precision,
        discernibility=m.discernibility,
        metric=policy.privacy.metric,
        suppression_unit=policy.privacy.suppression_unit,
        people_with_suppressed_rows=m.people_with_suppressed_rows,
        levels_source="previous_night" if found.kept_preferred else "search",
        risk_before=m.risk_before,
        risk_after=m.risk_after,
        class_size_histogram=m.class_size_histogram,
        loss_by_attribute=m.loss_by_attribute,
        search_evaluated=found.evaluated,
        search_lattice=found.lattice_size,
        search_seconds=round(found.seconds, 3),
        history=m.history,
    )
    write_decision(b, policy, s.work)
    result.suppressed_by_value = suppressed_by_value(b, policy)
    for gate in policy.privacy.rare_values:
        rare = b.fetch(sql("rows_gated_values", {"k": policy.privacy.k}, key=gate.key, person=policy.pseudonym.column))
        path = s.work.decision / f"gated_{gate.key}.parquet"
        storage.write_table(rare.select(["value"]), path, compression="zstd")
        b.register_parquet(Views.gated(gate.key), path)
        result.gated_values[gate.key] = rare.num_rows
        result.gated_rows[gate.key] = int(sum(rare.column("rows").to_pylist()))
    published = published_sql(policy, levels, ordered=False)  # after gating: what is actually published
    if policy.privacy.sensitive:
        b.materialize("published", published)
        result.l_diversity = metrics.l_diversity(b, "published", qis, policy.privacy.sensitive)
    if policy.privacy.history:
        b.register_parquet(Views.PERSONS, s.work.persons)
        result.history["epoch"] = policy.pseudonym.epoch
        result.history["epoch_nights"] = [n.day for n in nights]
        # What publish checks again, under the epoch lock, before tonight's state goes live.
        result.history["protected_against"] = [{"day": n.day, "items_sha256": n.items_sha256} for n in nights]
        history.write_finest(b, policy, s.work.decision / history.FINEST)
        result.history["linkage"] = history.linkage(
            b, policy, s.ctx.layout, s.ctx.day_date, None if policy.privacy.sensitive else published
        )
    result.objective_value = round(found.best.loss, 6)
    result.finer_levels = {
        q: {
            "level": hierarchies[q].level_names[e.levels[qis.index(q)]],
            "feasible": e.feasible,
            "suppressed_share": round(e.suppressed_rows / max(1, m.input_rows), 6),
            "exact": e.exact,
            "objective": round(e.loss, 6) if e.feasible else None,
        }
        for q, e in finer.items()
    }
    result.engine_seconds = engine.seconds
    log.info(
        "anonymize: k=%d levels=%s classes=%d suppressed_rows=%d (%.2f%%)",
        result.k,
        result.levels,
        result.classes,
        result.suppressed_rows,
        100 * result.suppression_share,
    )
    out = asdict(result)
    out["suppression_share"] = round(result.suppression_share, 6)
    return out


def write_decision(b: Backend, policy: Policy, work: WorkFiles) -> None:
    """Keep the decision the engine registered as files, and make the ungated published rows readable."""
    decision = work.decision
    decision.mkdir(parents=True, exist_ok=True)
    for qi in policy.qi_columns:
        b.write_parquet(sql("select_all", table=f"pub_{qi}"), decision / f"pub_{qi}.parquet")
    b.write_parquet(sql("select_all", table="suppressed"), decision / "suppressed.parquet")
    if policy.privacy.rare_values:
        b.materialize("published_ungated", published_sql(policy, None, ordered=False, gated=False))


#: Values listed per attribute in the suppression-by-group figures (the largest groups first).
MAX_GROUPS = 40


def suppressed_by_value(b: Backend, policy: Policy) -> dict[str, list[dict]]:
    """Per quasi-identifier, per published value (before gating): plays and plays suppressed,
    largest groups first (at most MAX_GROUPS). Needs the lookups and the decision registered."""
    qis = policy.quasi_identifiers
    attributes = [{"column": c, "lowest": level} for c, level in policy.lowest_levels().items()]
    rows = b.fetch(sql("rows_suppressed_by_value", attributes=attributes, person=policy.pseudonym.column)).to_pylist()
    n = len(qis)
    out: dict[str, list[dict]] = {qi.column: [] for qi in qis}
    for r in rows:
        # GROUPING() sets a bit for every attribute not grouped: the one clear bit is the attribute.
        i = next(j for j in range(n) if not (r["grouping_id"] >> (n - 1 - j)) & 1)
        groups = out[qis[i].column]
        if len(groups) < MAX_GROUPS:
            plays, dropped = int(r["plays"]), int(r["suppressed"])
            groups.append(
                {"value": r[f"v{i}"], "plays": plays, "suppressed": dropped, "share": round(dropped / plays, 6)}
            )
    return out


def register_decision(b: Backend, policy: Policy, work: WorkFiles) -> None:
    for qi in policy.qi_columns:
        b.register_parquet(f"pub_{qi}", work.decision / f"pub_{qi}.parquet")
    b.register_parquet("suppressed", work.decision / "suppressed.parquet")
    for gate in policy.privacy.rare_values:
        b.register_parquet(Views.gated(gate.key), work.decision / f"gated_{gate.key}.parquet")


def published_sql(policy: Policy, levels: dict[str, int] | None, ordered: bool, gated: bool = True):
    """The published rows: `generalized` with each lookup id's published label, suppressed rows
    absent, gated values replaced. Needs the lookups and the decision registered."""
    lowest = policy.lowest_levels()
    attributes = [
        {"column": qi.column, "lowest": lowest[qi.column], "companions": qi.publish} for qi in policy.quasi_identifiers
    ]
    return sql(
        "rows_published",
        gate_params(policy) if gated else {},
        carry=[policy.pseudonym.column, *policy.kept_columns],
        attributes=attributes,
        person=policy.pseudonym.column,
        columns=policy.published_columns,
        gates=gates(policy) if gated else {},
        ordered=ordered,
    )

"""The manifest: a typed, versioned account of one published night, and its one writer.

`<out-root>/<export>/day=YYYY-MM-DD/_manifest.json` says what was published, from what, how
and why it is safe: the policy digest, the pseudonym domain (key id, never the key), the
levels and measures, every count (input = published + suppressed + rejected), the self-test,
validation, warnings and the sha256 of every file. The privacy report is built from it only.

Version 1. Readers of earlier nights (stable levels, warnings, the index) go through
`read_manifest`, which tolerates manifests written before versioning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from transforms.context import DATA_DOCS, MANIFEST, REPORTS, Layout

log = logging.getLogger(__name__)

VERSION = 1


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyRef(_Part):
    file: str
    digest: str


class PseudonymInfo(_Part):
    column: str
    key_id: str
    recipient: str
    epoch: str
    epoch_label: str
    algorithm: str = "HMAC-SHA256 (per-recipient derived key), first 128 bits, hex"


class Anonymization(_Part):
    objective: str
    levels_source: str
    loss: float
    precision: float
    discernibility: float
    suppression_unit: str
    suppressed_rows_share: float
    people_with_suppressed_rows: int
    risk_before: dict[str, float]
    risk_after: dict[str, float]
    l_diversity: dict[str, Any]
    loss_by_attribute: dict[str, float]
    class_size_histogram: dict[str, int]
    metrics: str
    #: Per attribute, per published value: plays, plays suppressed and their share (largest first).
    suppressed_by_value: dict[str, list[dict[str, Any]]] = {}
    #: The objective's value at the published levels (the search minimizes it).
    objective_value: float | None = None
    #: Per attribute published above its lowest allowed level: the node one level finer for it
    #: (level, feasible, suppressed_share (a lower bound unless exact), objective when feasible).
    finer_levels: dict[str, dict[str, Any]] = {}
    #: The attribute with the largest weighted share of the information loss, and why it was not
    #: published finer (report: "what drove the cost").
    cost_driver: str | None = None


class HistoryRisk(_Part):
    people: int
    unique: float  # share of people an attacker singles out
    below_k: float  # share narrowed to fewer than k
    capped_people: int = 0  # people checked on their most common items only (their shares are lower bounds)
    exact: bool = True  # False: lower bounds (the enumeration would have been too large)


class History(_Part):
    """People, not rows: (k, k^m)-anonymity of viewing histories and what it resists."""

    m: int
    epoch: str
    epoch_nights: list[str]
    person_attributes: list[str]
    play_attributes: list[str]
    title_level: str
    plays_by_title_level: dict[str, int]
    titles_generalized_above_level: int
    title_codes_published: int
    plays_not_in_catalogue: int
    suppressed_rows_for_history: int
    suppressed_rows_for_row_k: int
    risk: dict[str, dict[str, HistoryRisk]]  # "m1".."m3" -> before/after
    linkage: dict[str, Any] | None
    resists: str
    does_not_resist: list[str]


class Search(_Part):
    evaluated: int
    lattice: int
    seconds: float


class Counts(_Part):
    input_rows: int
    published_rows: int
    suppressed_rows: int
    rejected_rows: int
    rejected_by_reason: dict[str, int]
    people_in: int
    people_published: int
    people_fully_suppressed: int
    classes: int
    min_class_people: int
    avg_class_people: float
    gated_values: dict[str, int]
    gated_rows: dict[str, int]
    #: Valid plays of minors dropped by the policy's rule (manifest `minors`).
    minor_rows: int = 0

    @property
    def unaccounted(self) -> int:
        return self.input_rows - self.published_rows - self.suppressed_rows - self.rejected_rows - self.minor_rows


class MinorsInfo(_Part):
    """The policy's minors rule and what it did tonight."""

    under: int
    action: Literal["drop", "coarse"]
    #: coarse: the lowest age band, the only one minors appear in (None if no age is published).
    band: str | None
    #: drop: valid plays (and their people) removed at pull, before pseudonymization (None in a
    #: DP release's manifest: exact counts stay private there).
    rows_dropped: int | None
    people_dropped: int | None


class SelfTest(_Part):
    #: None in a DP release's manifest: how many ids were tested is an exact count of people.
    values_tested: int | None
    forms_tested: int | None
    published_values: int | None
    hits: int
    forms: str = "value, md5/sha1/sha256 (hex, base64, 32-hex prefix), HMAC-SHA256 under an empty key"


class Validation(_Part):
    success: bool
    expectations: int
    suites: dict[str, bool]
    data_docs: str


class FileEntry(_Part):
    path: str
    bytes: int
    sha256: str


class NightManifest(BaseModel):
    """The fields every kind's manifest shares (`night_fields` builds them); each kind adds its own."""

    model_config = ConfigDict(extra="forbid")

    manifest_version: int = VERSION
    export: str
    day: str
    run_id: str
    created_at: str
    #: The engine that ran the heavy steps ("duckdb" or "spark"): the published rows are the same.
    engine: str = "duckdb"
    policy: PolicyRef
    #: The key id and recipient; an aggregate or DP export uses pseudonyms inside the run only.
    pseudonym: PseudonymInfo
    minors: MinorsInfo | None = None  # None: a manifest written before the minors rule
    self_test: SelfTest
    validation: Validation
    stage_seconds: dict[str, float]
    warnings: list[str] = []
    files: list[FileEntry] = []

    def passed(self) -> bool:
        return self.validation.success and self.self_test.hits == 0


class Manifest(NightManifest):
    """Manifest of a `rows` export night."""

    kind: Literal["rows"] = "rows"
    k: int
    suppression_limit: float
    quasi_identifiers: list[str]
    levels: dict[str, str]
    anonymization: Anonymization
    history: History | None = None
    search: Search
    columns: list[str]
    counts: Counts

    @property
    def threshold(self) -> int:
        """The smallest group size the night guarantees (k, in people)."""
        return self.k

    @property
    def suppressed_share(self) -> float:
        """The share the suppression limit counts: of rows, or of people with a row suppressed."""
        a = self.anonymization
        if a.suppression_unit == "people":
            return a.people_with_suppressed_rows / self.counts.people_in if self.counts.people_in else 0.0
        return a.suppressed_rows_share


class Protection(_Part):
    min_viewers: int
    dominance: float
    max_plays_per_person: int
    max_watch_hours_per_person: float


class CellCounts(_Part):
    """Cells of every published margin, and why the absent ones are absent."""

    total: int
    published: int
    primary_few_people: int
    primary_dominated: int
    secondary: int
    by_margin: dict[str, dict[str, int]]  # grouping -> published / few_people / dominated / secondary
    by_dimension: dict[str, dict[str, int]]  # suppressed cells of the margins holding a dimension


class Visible(_Part):
    """What stays visible in the published finest cells, against what was counted."""

    people_share: float | None  # None: withheld with the people counts it comes from
    plays_share: float
    hours_share: float


class Audit(_Part):
    method: str
    rounds: int
    primary_cells: int
    certified: int
    result: str


class AggregateCounts(_Part):
    """Plays in and out. input = published + suppressed + rejected, where `published` are the
    plays counted in published finest cells and `suppressed` the rest of the valid plays:
    those in suppressed finest cells plus those over the contribution bounds (clipped)."""

    input_rows: int
    published_rows: int
    suppressed_rows: int
    rejected_rows: int
    rejected_by_reason: dict[str, int]
    plays_in_suppressed_cells: int
    clipped_rows: int
    #: Withheld (None): a count of people below the threshold, or what would give one back;
    #: the plays of uncatalogued titles, whose coarse cells may be suppressed.
    plays_not_in_catalogue: int | None
    people_in: int | None
    people_published: int | None
    people_fully_suppressed: int | None
    #: Valid plays of minors dropped by the policy's rule (manifest `minors`).
    minor_rows: int = 0

    @property
    def unaccounted(self) -> int:
        return self.input_rows - self.published_rows - self.suppressed_rows - self.rejected_rows - self.minor_rows


class AggregateManifest(NightManifest):
    """Manifest of an `aggregate` export night (audience tables of cells)."""

    kind: Literal["aggregate"] = "aggregate"
    protection: Protection
    dimensions: dict[str, str]  # dimension -> published level
    measures: dict[str, str]  # measure -> kind
    margins: list[str]
    people_add_up_along: list[str]
    cells: CellCounts
    visible: Visible
    audit: Audit
    columns: list[str]
    counts: AggregateCounts

    @property
    def threshold(self) -> int:
        return self.protection.min_viewers

    @property
    def suppressed_share(self) -> float:
        return self.counts.suppressed_rows / self.counts.input_rows if self.counts.input_rows else 0.0


class DpMeasure(_Part):
    """One noisy vector of a DP release: its share of the budget and its noise."""

    grouping: str
    measure: str
    cells: int  # keys released (titles, or titles x countries), zeros included
    published: int  # values left after the post-processing drop
    rho: float  # zCDP charged (OpenDP's map of the sensitivity)
    sensitivity: float  # L2, per person, from the bounds
    scale: float  # discrete Gaussian sigma, in the measure's unit (people, plays, seconds)
    error_95: float  # |noise| < error_95 with probability >= 95% (in the published unit)


class DpRelease(_Part):
    """What the DP release of the night spent and guarantees."""

    accounting: str
    unit: str  # the privacy unit: person
    rho_night: float  # the night's total rho (spent once, when first released)
    spent_now: float  # rho this run appended to the ledger: 0 for a rerun of a released night
    reused: bool  # the night's stored release was returned (a rerun): no noise drawn
    epsilon: float  # the (epsilon, delta) the night's rho implies
    delta: float
    budget_rho: float
    budget_window_nights: int
    window_spent: float  # most spent by any W-night window holding the night, this release included
    window_remaining: float
    bounds: dict[str, float]  # max titles per night, plays and hours per title, titles per window
    window_nights: int  # the multi-night measures' N (0: none)
    window_measures: str  # published, or why not (missing nights)
    drop_below_error: bool
    measures: list[DpMeasure]
    release_digest: str  # the stored release (private zone) the partition was copied from
    #: Earlier nights reserved under another budget or window (a policy change), if any.
    budget_note: str | None = None
    #: The policy digest the stored release was drawn under (differs from `policy` after a change).
    release_policy_digest: str | None = None


class DpManifest(NightManifest):
    """Manifest of a differentially private audience release (`protection: dp`)."""

    kind: Literal["dp"] = "dp"
    dimensions: dict[str, str]
    release: DpRelease
    columns: list[str]
    #: None: exact counts would break the DP guarantee; they are in the private accounting file.
    counts: None = None

    @property
    def threshold(self) -> str:
        return f"DP, rho {self.release.rho_night:g}/night"

    @property
    def suppressed_share(self) -> float:
        return 0.0  # not published (exact counts stay private)


AnyManifest = Manifest | AggregateManifest | DpManifest
MODELS: dict[str, type[BaseModel]] = {"rows": Manifest, "aggregate": AggregateManifest, "dp": DpManifest}


def night_fields(ctx, policy, stats: dict, created_at: str) -> dict[str, Any]:
    """The fields every kind's manifest shares, from the run context, the policy and the stages'
    summaries: which night and run, the policy, the pseudonym, the self-test, the validation and
    the stage timings (each kind adds its own between them)."""
    pseudo, val = stats["pseudonymize"], stats["validate"]
    return {
        "export": policy.export,
        "day": ctx.day,
        "run_id": ctx.run_id,
        "created_at": created_at,
        "engine": ctx.engine,
        "policy": PolicyRef(file=Path(policy.source_path).name, digest=policy.digest),
        "pseudonym": PseudonymInfo(
            column=policy.pseudonym.column,
            key_id=pseudo["key_id"],
            recipient=pseudo["recipient"],
            epoch=policy.pseudonym.epoch,
            epoch_label=pseudo["epoch"],
        ),
        "minors": MinorsInfo(
            under=policy.minors.under,
            action=policy.minors.action,
            band=policy.minors_band,
            rows_dropped=stats["pull"].get("minor_rows", 0),
            people_dropped=stats["pull"].get("minor_people", 0),
        ),
        "self_test": SelfTest(**val["self_test"]),
        "validation": Validation(
            success=val["success"],
            expectations=val["expectations"],
            suites=val["suites"],
            data_docs=f"{REPORTS}/{DATA_DOCS}/index.html",
        ),
        "stage_seconds": {name: summary["seconds"] for name, summary in stats.items() if "seconds" in summary},
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path, manifest: AnyManifest) -> Path:
    """Write `_manifest.json` into the staged partition, listing every data file with its sha256."""
    files = [
        FileEntry(path=f.name, bytes=f.stat().st_size, sha256=sha256_file(f)) for f in sorted(folder.glob("*.parquet"))
    ]
    final = manifest.model_copy(update={"files": files})
    path = folder / MANIFEST
    path.write_text(json.dumps(final.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(path: Path) -> AnyManifest | None:
    """A published night's manifest (of its kind), or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("manifest_version", 0)
        return MODELS[data.get("kind", "rows")].model_validate(data)
    except (OSError, ValueError, KeyError, ValidationError) as exc:
        if path.exists():
            log.warning("manifest %s is unreadable (%s); it is ignored", path, type(exc).__name__)
        return None


def previous_manifest(layout: Layout, export: str, day: date, back: int = 1) -> AnyManifest | None:
    """The manifest of the night `back` days before `day`, if that night is published."""
    earlier = (day - timedelta(days=back)).isoformat()
    return read_manifest(layout.manifest(export, earlier))


#: Warning-level checks: they alert (manifest, report, log) but never block publication.
TRAILING_NIGHTS = 7
ROW_COUNT_DEVIATION = 0.5
REJECTED_SHARE = 0.01


def warnings(layout: Layout, manifest: AnyManifest, suppression_limit: float | None) -> list[str]:
    """Checks that alert without blocking: a row count far from recent nights, suppression near
    its limit (kinds with a limit), many rejected rows."""
    out = []
    c = manifest.counts
    if c is None:  # a DP release publishes no exact count, so none is compared
        return out
    day = date.fromisoformat(manifest.day)
    history = []
    for back in range(1, TRAILING_NIGHTS + 1):
        earlier = previous_manifest(layout, manifest.export, day, back)
        if earlier is not None and earlier.counts is not None:
            history.append(earlier.counts.published_rows)
    if history:
        average = sum(history) / len(history)
        if average and abs(c.published_rows - average) / average > ROW_COUNT_DEVIATION:
            out.append(
                f"published rows {c.published_rows:,} differ by more than {ROW_COUNT_DEVIATION:.0%} from the "
                f"average of the last {len(history)} nights ({average:,.0f})"
            )
    share = manifest.suppressed_share
    if suppression_limit is not None and share > suppression_limit / 2:
        out.append(f"suppression used {share:.1%} of the {suppression_limit:.0%} limit")
    if c.input_rows and c.rejected_rows / c.input_rows > REJECTED_SHARE:
        out.append(f"{c.rejected_rows / c.input_rows:.1%} of input rows were rejected (see rejected_by_reason)")
    out += biased_suppression(manifest)
    return out


#: A group loses "far more than the average" when its suppressed share is at least this many
#: times the overall share and this many points above it, among groups of at least GROUP_MIN_PLAYS.
GROUP_BIAS_RATIO, GROUP_BIAS_POINTS, GROUP_MIN_PLAYS = 3.0, 0.10, 100


def biased_suppression(manifest: AnyManifest) -> list[str]:
    """Groups (a value of one attribute) that suppression hits far harder than the night as a
    whole: analysts comparing groups must know."""
    anonymization = getattr(manifest, "anonymization", None)
    if anonymization is None:
        return []
    return uneven_groups(anonymization.suppressed_by_value, anonymization.suppressed_rows_share)  # plays, as per group


def uneven_groups(by_value: dict[str, list[dict[str, Any]]], overall: float) -> list[str]:
    """One warning per attribute with groups far above the overall suppressed share (the worst
    three named)."""
    out = []
    for attribute, groups in by_value.items():
        hit = [
            g
            for g in groups
            if g["plays"] >= GROUP_MIN_PLAYS
            and g["share"] >= GROUP_BIAS_RATIO * overall
            and g["share"] >= overall + GROUP_BIAS_POINTS
        ]
        if not hit:
            continue
        hit.sort(key=lambda g: (-g["share"], str(g["value"])))
        worst = "; ".join(f"{g['value']}: {g['share']:.0%} of {g['plays']:,} plays" for g in hit[:3])
        more = f" (and {len(hit) - 3} more)" if len(hit) > 3 else ""
        out.append(
            f"suppression hits {attribute} unevenly: {worst}{more} suppressed, against {overall:.1%} "
            f"overall; compare {attribute} groups with care (report: Suppression by group)"
        )
    return out

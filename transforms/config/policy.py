"""Export policy: a YAML file loaded into a typed, self-validating object.

The policy is data, not code: which raw columns exist and what happens to each, which
quasi-identifiers are published through which hierarchy at which level, k, the suppression
limit, the pseudonym domain and the retention. `load_policy` validates it whole, hierarchy
levels included, so a bad policy stops the run before any data is read; its digest (over
the file and every file it references) is checked by every stage of a run.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from transforms.config.contract import DIRECT_IDENTIFIERS, EVENT_COLUMNS, SUBSCRIBER_COLUMNS, TITLE_COLUMNS
from transforms.errors import PolicyError
from transforms.privacy.hierarchies import Hierarchy, HierarchySpec

#: `measure`: only summed into an aggregate's measures (aggregate policies), never published per row.
ColumnAction = Literal["pseudonymize", "drop", "reduce", "generalize", "keep", "measure"]
#: What a policy may do with a catalogue column: the join key, read by a hierarchy, or ignored.
CatalogueAction = Literal["key", "generalize", "drop"]
#: Export kinds (transforms/exports/): one row per play, or audience tables of cells.
ExportKind = Literal["rows", "aggregate"]
# Derivations a quasi-identifier may apply to its source column before generalizing.
Derivation = Literal["none", "age_years", "hour_of_day"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: The column of an aggregate's table that names the margin a cell belongs to.
GROUPING_COLUMN = "grouping"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuasiIdentifier(_Strict):
    column: str
    source: list[str] = Field(min_length=1)
    derive: Derivation = "none"
    #: "auto": the search picks the level between min_level and max_level; else a fixed level.
    level: str | int = "auto"
    min_level: str | int | None = None
    max_level: str | int | None = None
    hierarchy: HierarchySpec
    #: Companion columns published with this one, taken from the label (the titles hierarchy
    #: offers title_name and content_type): they always describe the published label.
    publish: list[str] = Field(default_factory=list)
    #: How much generalizing this attribute costs against the others in the search's objective
    #: (ARX's attribute weights): raise it for what analysts need most (titles, age bands).
    weight: float = Field(default=1.0, gt=0, le=100)
    #: What the published column means, for the data dictionary (report, Parquet metadata).
    description: str = ""

    @field_validator("column")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not a valid column name (lower case, digits, _)")
        return v

    def level_range(self, h: Hierarchy) -> tuple[int, int]:
        """The levels the search may choose (one level when the policy fixes it)."""
        if self.level != "auto":
            fixed = h.level_index(self.level, self.column)
            return fixed, fixed
        lo = 0 if self.min_level is None else h.level_index(self.min_level, self.column)
        hi = h.height - 1 if self.max_level is None else h.level_index(self.max_level, self.column)
        if lo > hi:
            raise PolicyError(f"{self.column}: min_level is above max_level")
        return lo, hi


class RareValueGate(_Strict):
    key: str
    columns: list[str] = Field(min_length=1)
    replacement: str = "*"


class History(_Strict):
    """(k, k^m)-anonymity of each person's plays: the attacker who knows a person's attributes
    and any m of their plays finds at least k people who match (over the pseudonym's epoch)."""

    #: Strict (see `_m_is_a_number`): YAML `m: true` or `m: "3"` is a mistake, not 1 or 3.
    m: int = 2
    #: Published attributes of the person an attacker is assumed to know (age band, ...).
    person: list[str] = Field(min_length=1)
    #: What the extract publishes about a play that an attacker may know (title, part of day, device).
    play: list[str] = Field(min_length=1)
    #: The play attribute whose hierarchy is cut per value (rare titles go up, never blanked).
    title: str
    #: Private per-epoch state (published pseudonymized items) is kept this many days after the
    #: epoch ends, for reruns and backfills; then purged.
    state_retention_days: int = Field(default=7, ge=0)

    @field_validator("m", mode="before")
    @classmethod
    def _m_is_a_number(cls, v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(
                f"m must be a whole number from 1 to 5 (unquoted, not true/false), not {v!r} ({type(v).__name__})"
            )
        return v

    @field_validator("m")
    @classmethod
    def _m(cls, v: int) -> int:
        if not 1 <= v <= 5:
            raise ValueError(
                f"m is the number of plays an attacker is assumed to know and must be 1 to 5, not {v}; "
                "2 is the default (the Netflix Prize attack needed 2 to single out most people)"
            )
        return v


class Privacy(_Strict):
    k: int = Field(ge=2, description="minimum distinct people per published combination")
    suppression_limit: float = Field(ge=0.0, le=1.0)
    #: What the suppression limit counts: rows removed, or people with any row removed.
    suppression_unit: Literal["rows", "people"] = "rows"
    #: The search's objective: ARX's Loss, or height-based precision.
    metric: Literal["loss", "precision", "discernibility"] = "loss"
    #: Reuse the previous night's levels while they still meet k within the limit.
    stable_levels: bool = False
    #: A kept column whose diversity inside each published combination is reported (l-diversity).
    sensitive: str | None = None
    #: Enforce distinct l-diversity of `sensitive`: combinations with fewer values are suppressed.
    l: int | None = Field(default=None, ge=2)  # noqa: E741 (the l of l-diversity)
    rare_values: list[RareValueGate] = Field(default_factory=list)
    #: Protect people's viewing histories, not only rows: (k, k^m)-anonymity.
    history: History | None = None


class Minors(_Strict):
    """People younger than `under` years on the day (by their birth date): never published in an
    age band of their own. `drop`: their plays leave the run at pull, before pseudonymization,
    and are counted (manifest `minors`). `coarse`: the age attribute's bands at or below `under`
    are merged at every level, so the lowest band reaches from 0 to the first bound above
    `under` and always spans people older than it too. People with no birth date are not
    known to be minors: they are published with the age `unknown`."""

    under: int = Field(default=16, ge=1, le=25)
    action: Literal["drop", "coarse"] = "coarse"


#: Column names the engine uses for its own indexes (the person index, the record number).
RESERVED_COLUMNS = frozenset({"pid", "_record"})


class Measure(_Strict):
    """One measure of an aggregate's cells."""

    name: str
    #: distinct_people: distinct persons; count: plays; sum_hours: a seconds column summed, in hours.
    kind: Literal["distinct_people", "count", "sum_hours"]
    #: The raw column summed (sum_hours only); it must be classified `measure`.
    column: str | None = None
    #: What the measure means, for the data dictionary (default: said from its kind and bounds).
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not a valid column name (lower case, digits, _)")
        return v

    @model_validator(mode="after")
    def _column(self) -> Measure:
        if (self.kind == "sum_hours") != (self.column is not None):
            raise ValueError(f"measure {self.name!r}: sum_hours needs `column` (and only sum_hours takes one)")
        return self


class Protection(_Strict):
    """Small-cohort protection of an aggregate (primary and secondary cell suppression)."""

    #: A cell is published only if at least this many distinct people contributed.
    min_viewers: int = 10
    #: A magnitude cell whose largest contributor holds more than this share of it is suppressed.
    dominance: float = Field(default=0.5, gt=0.0, lt=1.0)
    #: Contribution bounds, per person and finest cell, applied before anything is summed.
    max_plays_per_person: int = Field(default=10, ge=1)
    max_watch_hours_per_person: float = Field(default=6.0, gt=0.0)

    @field_validator("min_viewers")
    @classmethod
    def _threshold(cls, v: int) -> int:
        if v < 2:
            raise ValueError(
                f"min_viewers must be at least 2, not {v}: a cell of one viewer describes one person "
                "(10 is the default; statistical offices use 3 to 10 and more for sensitive tables)"
            )
        return v


class DpBudget(_Strict):
    """What the ledger allows: at most `rho` spent by the releases of any `window_nights`
    consecutive nights (zCDP composes by adding rho)."""

    rho: float = Field(gt=0)
    window_nights: int = Field(default=30, ge=1, le=366)


class DpSettings(_Strict):
    """A differentially private release (aggregate policies with `protection: dp`). The privacy
    unit is the person: every bound below is per person, applied before any noise."""

    #: zCDP (rho); the report also states the (epsilon, delta) it implies for `delta`.
    accounting: Literal["zcdp"] = "zcdp"
    rho_per_night: float = Field(gt=0)
    budget: DpBudget
    delta: float = Field(default=1e-7, gt=0, lt=1e-3)
    #: Contribution bounds per person and night: titles counted, and per title plays and hours.
    max_titles_per_night: int = Field(default=5, ge=1, le=100)
    max_plays_per_title: int = Field(default=5, ge=1, le=1000)
    max_watch_hours_per_title: float = Field(default=4.0, gt=0, le=24)
    #: Multi-night measures over the last N nights (0: none), and the titles a person counts in them.
    window_nights: int = Field(default=7, ge=0, le=31)
    max_titles_per_window: int = Field(default=20, ge=1, le=1000)
    #: Share of the nightly rho per published measure (relative weights; unknown names refused).
    weights: dict[str, float] = Field(default_factory=dict)
    #: Post-processing: leave out a title (or title and country) whose noisy viewers are below
    #: their 95% error bound, and a multi-night value below its own.
    drop_below_error: bool = True

    @model_validator(mode="after")
    def _fits(self) -> DpSettings:
        if self.rho_per_night > self.budget.rho:
            raise ValueError(
                f"dp.rho_per_night ({self.rho_per_night}) is more than the whole budget ({self.budget.rho} per "
                f"{self.budget.window_nights} nights): no night could ever be released"
            )
        if any(w <= 0 for w in self.weights.values()):
            raise ValueError("dp.weights must be positive")
        return self


class Pseudonym(_Strict):
    column: str
    person: list[str] = Field(min_length=1)
    #: Pseudonyms are stable within an epoch and change on purpose at its end, to limit how
    #: much history links up: day (the default: unrelated pseudonyms every night), week, month
    #: (both need privacy.history, which then protects the whole epoch), year or none (stable
    #: while the key is; only without privacy.history, and only if linking nights is acceptable).
    epoch: Literal["none", "year", "month", "week", "day"] = "day"

    @field_validator("column")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_COLUMNS:
            raise ValueError(f"{value!r} is reserved for the engine's own indexes; name the pseudonym column otherwise")
        return value


class Policy(_Strict):
    export: str
    kind: ExportKind = "rows"
    description: str = ""
    owner: str
    schedule: str = "0 3 * * *"
    recipient: str
    retention_days: int = Field(ge=1)
    #: Work and failed-candidate folders hold raw-derived rows: keep them only briefly.
    work_retention_days: int = Field(default=7, ge=0)
    #: Quarantined raw rows (in the raw zone's access domain) are kept this long.
    quarantine_retention_days: int = Field(default=30, ge=1)
    #: rows: the privacy models (k, suppression limit, history, ...).
    privacy: Privacy | None = None
    pseudonym: Pseudonym
    columns: dict[str, ColumnAction]
    #: Every column of the title catalogue (titles/dt=DAY/*.parquet), classified like raw columns.
    catalogue: dict[str, CatalogueAction]
    #: rows: `quasi_identifiers`; aggregate: `dimensions` (same fields, each at a fixed level).
    quasi_identifiers: list[QuasiIdentifier] = Field(
        default_factory=list, validation_alias=AliasChoices("quasi_identifiers", "dimensions")
    )
    #: aggregate: small-cohort protection (thresholds and cell suppression), or `dp` (then `dp:`).
    protection: Protection | Literal["dp"] | None = None
    #: aggregate with `protection: dp`: the differentially private release and its budget.
    dp: DpSettings | None = None
    measures: list[Measure] = Field(default_factory=list)
    #: Each margin is a list of dimensions the cells are grouped by ([] is the grand total).
    #: Default: every set of dimensions that includes the first, each other dimension alone,
    #: and the grand total.
    margins: list[list[str]] | None = None
    #: People under an age (default 16): their plays dropped, or published only in a coarse band.
    minors: Minors = Field(default_factory=Minors)

    # Set by the loader, not by the YAML.
    source_path: str = ""
    digest: str = ""

    @field_validator("export", "recipient")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} must be lower case letters, digits and _ (it names folders)")
        return v

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data):
        if not isinstance(data, dict):
            return data
        kind = data.get("kind", "rows")
        if kind == "aggregate":
            if "quasi_identifiers" in data:
                raise ValueError("an aggregate policy lists `dimensions`, not quasi_identifiers")
            for key in ("privacy",):
                if key in data:
                    raise ValueError(f"`{key}` belongs to row policies; an aggregate policy has `protection`")
            data.setdefault("protection", {})
            if (data["protection"] == "dp") != ("dp" in data):
                raise ValueError("`protection: dp` and a `dp:` section go together (budget, bounds, window)")
        elif kind == "rows":
            for key in ("dimensions", "protection", "measures", "margins", "dp"):
                if key in data:
                    raise ValueError(f"`{key}` belongs to aggregate policies (kind: aggregate)")
            if "privacy" not in data:
                raise ValueError("a row policy needs a `privacy` section (k, suppression_limit, ...)")
        return data

    @property
    def export_kind(self) -> str:
        """The export kind that runs this policy (transforms/exports/): rows, aggregate or dp."""
        return "dp" if self.protection == "dp" else self.kind

    @property
    def section(self) -> str:
        """The policy's name for its list of generalized attributes."""
        return "dimensions" if self.kind == "aggregate" else "quasi_identifiers"

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        contract = set(EVENT_COLUMNS) | set(SUBSCRIBER_COLUMNS)
        missing = sorted(contract - set(self.columns))
        if missing:
            raise ValueError(
                f"columns: raw columns {missing} are not classified; add each under `columns` "
                "with one of pseudonymize, drop, generalize, keep"
            )
        for column, allowed in DIRECT_IDENTIFIERS.items():
            if self.columns.get(column) not in allowed:
                raise ValueError(
                    f"columns.{column} is a direct identifier: it may only be {' or '.join(allowed)}, "
                    f"not {self.columns.get(column)}"
                )
        for person_col in self.pseudonym.person:
            if self.columns.get(person_col) != "pseudonymize":
                raise ValueError(
                    f"pseudonym.person names {person_col!r}, which must be classified as pseudonymize under `columns`"
                )
        pseudonymized = sorted(c for c, a in self.columns.items() if a == "pseudonymize")
        if sorted(self.pseudonym.person) != pseudonymized:
            raise ValueError(
                f"columns classified pseudonymize {pseudonymized} must be exactly "
                f"pseudonym.person {sorted(self.pseudonym.person)}"
            )
        generalized = {c for c, a in self.columns.items() if a in ("generalize", "reduce")}
        for qi in self.quasi_identifiers:
            reduced = [s for s in qi.source if self.columns.get(s) == "reduce"]
            if reduced and (qi.hierarchy.type != "ip_prefix" or qi.min_level in (None, 0, "address")):
                raise ValueError(
                    f"{self.section}.{qi.column}: {reduced} are classified reduce, so they need the "
                    "ip_prefix hierarchy with min_level prefix_long or higher (never the full value)"
                )
        used: set[str] = set()
        names: set[str] = set()
        for qi in self.quasi_identifiers:
            for src in qi.source:
                if src not in generalized:
                    raise ValueError(
                        f"{self.section}.{qi.column}: source {src!r} must be classified as "
                        "generalize or reduce under `columns`"
                    )
            used.update(qi.source)
            if qi.column in names:
                raise ValueError(f"{self.section}: column {qi.column!r} appears twice")
            names.add(qi.column)
        unused = sorted(generalized - used)
        if unused:
            raise ValueError(
                f"columns {unused} are classified generalize but no entry of {self.section} uses them; "
                f"add one to {self.section} or classify them as drop"
            )
        if not self.quasi_identifiers:
            raise ValueError(f"{self.section}: at least one is needed")
        missing = sorted(set(TITLE_COLUMNS) - set(self.catalogue))
        if missing:
            raise ValueError(
                f"catalogue: columns {missing} of the title catalogue are not classified; add each under "
                "`catalogue` with one of key, generalize, drop"
            )
        if self.catalogue.get("title_id") != "key":
            raise ValueError("catalogue.title_id is the catalogue's key: classify it as key")
        if self.kind == "aggregate":
            self._check_aggregate(names)
            return self
        measured = sorted(c for c, a in self.columns.items() if a == "measure")
        if measured:
            raise ValueError(f"columns {measured}: `measure` is for aggregate policies; a row policy keeps or drops")
        kept = {c for c, a in self.columns.items() if a == "keep"}
        if self.privacy.sensitive and self.privacy.sensitive not in kept:
            raise ValueError(f"privacy.sensitive {self.privacy.sensitive!r} must be a column classified keep")
        if self.privacy.l is not None:
            gated = {c for g in self.privacy.rare_values for c in (g.key, *g.columns)}
            if not self.privacy.sensitive:
                raise ValueError("privacy.l needs privacy.sensitive (the column whose diversity is enforced)")
            if self.privacy.sensitive in gated:
                raise ValueError(
                    f"privacy.l cannot be enforced on {self.privacy.sensitive!r}: rare-value gating replaces its "
                    "values after suppression and could undo the diversity; report it only (drop `l`)"
                )
        for gate in self.privacy.rare_values:
            bad = sorted({gate.key, *gate.columns} - kept)
            if bad:
                raise ValueError(f"privacy.rare_values: {bad} must be classified keep")
        companions = [c for qi in self.quasi_identifiers for c in qi.publish]
        clash = (names | {self.pseudonym.column}) & (kept | set(companions))
        if clash or len(companions) != len(set(companions)):
            raise ValueError(f"published column names collide: {sorted(clash) or companions}")
        self._check_history(names)
        return self

    def dp_weight_names(self) -> list[str]:
        """The names `dp.weights` may use: each measure, and the two multi-night measures."""
        return [*(m.name for m in self.measures), "window_viewers", "window_every_night"]

    def _check_dp(self, margins: list[tuple[str, ...]]) -> None:
        """A DP release publishes only what has a public key set: titles of the night's catalogue
        (at the title level) and, optionally, countries of the location reference."""
        dims = {qi.column: qi for qi in self.quasi_identifiers}
        title = self.quasi_identifiers[0]
        if title.hierarchy.type != "titles" or title.level != "title":
            raise ValueError(
                "protection dp: the first dimension must be the title (hierarchy type titles, level title): "
                "the catalogue is the public list of keys, so no title appears or vanishes because of one person"
            )
        for qi in self.quasi_identifiers[1:]:
            if qi.hierarchy.type != "location" or qi.level != "country":
                raise ValueError(
                    f"protection dp: dimensions.{qi.column}: only a location at the country level (whose public "
                    "keys are the reference table's countries) may break titles down"
                )
        if len(dims) > 2:
            raise ValueError("protection dp: at most two dimensions (the title, and a country)")
        if self.pseudonym.epoch != "none":
            raise ValueError(
                f"protection dp: pseudonym.epoch must be none, not {self.pseudonym.epoch!r}: the bounds per person "
                "hold only if a person keeps one pseudonym (across the multi-night window too); it is never published"
            )
        kinds = sorted(m.kind for m in self.measures)
        if len(kinds) != len(set(kinds)):
            raise ValueError("protection dp: one measure of each kind (distinct_people, count, sum_hours) at most")
        unknown = sorted(set(self.dp.weights) - set(self.dp_weight_names()))
        if unknown:
            raise ValueError(f"dp.weights: {unknown} are not measures; use {self.dp_weight_names()}")
        if self.margins is None:
            raise ValueError(
                "protection dp: list the margins published, e.g. [[title_id], [title_id, location]] (no margin "
                "without the title: its keys would not be public)"
            )
        if any(title.column not in m for m in margins):
            raise ValueError("protection dp: every margin must include the title")

    def _check_aggregate(self, names: set[str]) -> None:
        kept = sorted(c for c, a in self.columns.items() if a == "keep")
        if kept:
            raise ValueError(
                f"columns {kept} are classified keep, but an aggregate publishes no raw column: "
                "classify them as drop, or as measure and add a measure"
            )
        for qi in self.quasi_identifiers:
            if qi.level == "auto":
                raise ValueError(f"dimensions.{qi.column}: an aggregate publishes one fixed level; set `level`")
        if not self.measures:
            raise ValueError("measures: an aggregate needs at least one measure (viewers, plays, watch_hours)")
        measured = {c for c, a in self.columns.items() if a == "measure"}
        seen: set[str] = set()
        for m in self.measures:
            if m.name in names or m.name in seen or m.name == GROUPING_COLUMN:
                raise ValueError(f"measures: the name {m.name!r} is taken (by a dimension, a measure or `grouping`)")
            seen.add(m.name)
            if m.column is not None and m.column not in measured:
                raise ValueError(
                    f"measures.{m.name} sums {m.column!r}, which is not a raw column classified `measure`; "
                    f"classify it under `columns` as measure"
                )
        if not any(m.kind == "distinct_people" for m in self.measures):
            raise ValueError("measures: one measure must count distinct people (kind: distinct_people)")
        unused = sorted(measured - {m.column for m in self.measures})
        if unused:
            raise ValueError(f"columns {unused} are classified measure but no measure sums them")
        companions = [c for qi in self.quasi_identifiers for c in qi.publish]
        clash = (names | seen | {GROUPING_COLUMN}) & set(companions)
        if clash or len(companions) != len(set(companions)):
            raise ValueError(f"published column names collide: {sorted(clash) or companions}")
        margins = self.margin_list
        order = {c: i for i, c in enumerate(self.dimension_columns)}
        for margin in margins:
            unknown = sorted(set(margin) - names)
            if unknown:
                raise ValueError(f"margins: {unknown} are not dimensions (the dimensions are {self.dimension_columns})")
            if len(set(margin)) != len(margin):
                raise ValueError(f"margins: {margin} names a dimension twice")
        keys = [tuple(sorted(m, key=order.get)) for m in margins]
        if len(set(keys)) != len(keys):
            raise ValueError("margins: a margin is listed twice")
        if tuple(self.dimension_columns) not in keys:
            raise ValueError(f"margins: the finest cells (all of {self.dimension_columns}) must be published")
        if self.protection == "dp":
            self._check_dp(keys)

    def _check_history(self, names: set[str]) -> None:
        h = self.privacy.history
        epoch = self.pseudonym.epoch
        if h is None:
            if epoch in ("week", "month"):
                raise ValueError(
                    f"pseudonym.epoch {epoch!r} links a person's plays across nights; it needs privacy.history "
                    "(which then protects the whole epoch), or use epoch: day"
                )
            return
        if epoch in ("none", "year"):
            raise ValueError(
                f"privacy.history protects the plays of one pseudonym epoch, and epoch {epoch!r} is too long a "
                "window to keep; use day (the default), week or month"
            )
        unknown = sorted(set(h.person + h.play + [h.title]) - names)
        if unknown:
            raise ValueError(f"privacy.history names {unknown}, which are not quasi_identifiers columns")
        if set(h.person) & set(h.play):
            raise ValueError("privacy.history: an attribute is either the person's or a play's, not both")
        if h.title not in h.play:
            raise ValueError(f"privacy.history.title {h.title!r} must be one of privacy.history.play")

    @property
    def dimension_columns(self) -> list[str]:
        return [q.column for q in self.quasi_identifiers]

    @property
    def margin_list(self) -> list[tuple[str, ...]]:
        """The aggregate's margins, each in dimension order (default: see `margins`)."""
        dims = self.dimension_columns
        order = {c: i for i, c in enumerate(dims)}
        if self.margins is not None:
            return [tuple(sorted(m, key=lambda c: order.get(c, len(dims)))) for m in self.margins]
        first, rest = dims[0], dims[1:]
        out = []
        for size in range(len(rest), -1, -1):
            out += [(first, *combo) for combo in itertools.combinations(rest, size)]
        out += [(d,) for d in rest] + [()]
        return out

    @property
    def measured_columns(self) -> list[str]:
        return [c for c, a in self.columns.items() if a == "measure"]

    @property
    def kept_columns(self) -> list[str]:
        return [c for c, a in self.columns.items() if a == "keep"]

    @property
    def qi_columns(self) -> list[str]:
        return [q.column for q in self.quasi_identifiers]

    @property
    def published_columns(self) -> list[str]:
        out = [self.pseudonym.column, *self.kept_columns]
        for qi in self.quasi_identifiers:
            out += [qi.column, *qi.publish]
        return out

    def quasi_identifier(self, column: str) -> QuasiIdentifier:
        return next(qi for qi in self.quasi_identifiers if qi.column == column)

    def referenced_files(self) -> list[Path]:
        return sorted({self.resolve(f) for qi in self.quasi_identifiers for f in qi.hierarchy.files()})

    def hierarchies(self) -> dict[str, Hierarchy]:
        """Every quasi-identifier's hierarchy, keyed by published column, levels checked."""
        out = {}
        for qi in self.quasi_identifiers:
            h = self._age_coarsened(qi).build(self.resolve)
            lo, _ = qi.level_range(h)
            if qi.derive == "age_years" and self.minors.action == "coarse" and lo == 0:
                raise PolicyError(
                    f"{self.section}.{qi.column}: minors.action is coarse, so exact ages must never be "
                    f"published; set min_level (or level) to a band, e.g. {h.level_names[1]!r}"
                )
            unknown = sorted(set(qi.publish) - set(h.companions))
            if unknown:
                raise PolicyError(
                    f"{self.section}.{qi.column}.publish: {unknown} are not offered by its hierarchy "
                    f"(it offers {list(h.companions) or 'none'})"
                )
            out[qi.column] = h
        return out

    def _age_coarsened(self, qi: QuasiIdentifier) -> HierarchySpec:
        """The age attribute's hierarchy with the bands at or below minors.under merged (with
        action drop too: the lowest band then holds no minor, but its label stays honest)."""
        if qi.derive != "age_years":
            return qi.hierarchy
        coarsen = getattr(qi.hierarchy, "merged_below", None)
        if coarsen is None:
            raise PolicyError(
                f"{self.section}.{qi.column}: minors.action coarse needs an intervals hierarchy for the "
                "age (its bands are merged below minors.under); use one, or minors.action: drop"
            )
        try:
            return coarsen(self.minors.under)
        except ValueError as exc:
            raise PolicyError(f"{self.section}.{qi.column}: {exc}") from None

    @property
    def minors_band(self) -> str | None:
        """The lowest age band, e.g. `<18`: the only one minors appear in (coarse), the one that
        holds the youngest people published (drop); None if no age is published."""
        for qi in self.quasi_identifiers:
            if qi.derive == "age_years":
                return self._age_coarsened(qi).lowest_band()
        return None

    def lowest_levels(self) -> dict[str, int]:
        """Each quasi-identifier's finest level the policy allows (its level, when fixed)."""
        hierarchies = self.hierarchies()
        return {qi.column: qi.level_range(hierarchies[qi.column])[0] for qi in self.quasi_identifiers}

    def level_ranges(self, hierarchies: dict[str, Hierarchy]) -> list[tuple[int, int]]:
        return [qi.level_range(hierarchies[qi.column]) for qi in self.quasi_identifiers]

    def resolve(self, relative: str) -> Path:
        """A path named in the policy, relative to the policy file's folder."""
        return (Path(self.source_path).parent / relative).resolve()


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file; errors name the file and the bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level")
    data["source_path"] = str(path.resolve())
    data["digest"] = "pending"
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors())
        raise PolicyError(f"{path}: invalid policy: {problems}") from None
    # The digest covers the referenced hierarchy files too: changing one changes the output.
    digest = hashlib.sha256(text.encode())
    for ref in policy.referenced_files():
        try:
            digest.update(ref.name.encode() + b"\0" + ref.read_bytes())
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read referenced file {ref}: {exc.strerror}") from None
    policy = policy.model_copy(update={"digest": "sha256:" + digest.hexdigest()})
    policy.hierarchies()  # level names and ranges: a bad one stops here, not mid-run
    return policy

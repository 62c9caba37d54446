"""A run's context, and every path and work-table name of the project, declared once.

Output tree (readers see only `<export>/day=.../` folders that are complete):

    <out-root>/<export>/day=YYYY-MM-DD/part-00000.parquet   the published extract (zstd)
    <out-root>/<export>/day=YYYY-MM-DD/_manifest.json        what, how, counts, file digests
    <out-root>/<export>/day=YYYY-MM-DD/_reports/             privacy report, Data Docs
    <out-root>/<export>/_index.html                          every published night
    <out-root>/.staging/<export>/<day>/<run>/                candidate partition (same filesystem)
    <out-root>/.locks/<export>-<day>.lock                    one run per export and day
    <out-root>/.trash/<export>/                              partitions being purged

Each root is a local folder or an object-store URI (`s3://bucket/prefix`; transforms/storage.py).

Private trees (raw-derived data: never beside the extract):

    <work-root>/<export>/<day>/<run>/                        datasets the stages hand over (below)
    <work-root>/<export>/_history/day=YYYY-MM-DD/            published histories of an epoch (pseudonymized)
    <work-root>/<export>/_history/.staging-<run>/            a night's history state before its swap
    <work-root>/<export>/_history/.previous-day=YYYY-MM-DD/  the state it replaces, until the partition swaps
    <quarantine-root>/<export>/day=YYYY-MM-DD/rejected.parquet  rejected raw rows, one copy per day (raw zone only)
    <quarantine-root>/.trash/<export>/                       quarantined days being purged
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from transforms import storage
from transforms.storage import location

MANIFEST = "_manifest.json"
REPORTS = "_reports"
PRIVACY_REPORT = "privacy_report.html"
DATA_DOCS = "data_docs"
DATA_FILE = "part-00000.parquet"
QUARANTINE_FILE = "rejected.parquet"
INDEX = "_index.html"
DAY_PREFIX = "day="
STAGING = ".staging"
LOCKS = ".locks"
TRASH = ".trash"
HISTORY = "_history"
HISTORY_STAGING_PREFIX = ".staging-"
HISTORY_PREVIOUS_PREFIX = ".previous-"
#: A DP export's private state under the work root: ledger, stored releases, window pairs.
DP_STATE = "_dp"

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: The engines a run may name (each a backend in transforms/backends/).
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class RunContext:
    """Everything a stage needs to find its inputs. Small and JSON-able: it travels in XCom."""

    policy_path: str
    day: str
    run_id: str
    raw_root: str
    out_root: str
    work_root: str
    quarantine_root: str | None = None
    #: The engine every stage of the run uses ("duckdb" or "spark", see transforms/backends).
    engine: str = "duckdb"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; engines: {', '.join(ENGINES)}")
        for name in ("work_root", "quarantine_root"):
            root = getattr(self, name)
            if root is not None and storage.inside(location(root), location(self.out_root)):
                raise ValueError(
                    f"the {name.replace('_', ' ')} {root} is inside the extract root {self.out_root}: it holds raw "
                    "rows, which readers of the extracts must not see; give a folder outside it"
                )

    @property
    def run_slug(self) -> str:
        return _SAFE.sub("_", self.run_id)[:120]

    @property
    def day_date(self) -> date:
        return date.fromisoformat(self.day)

    @property
    def layout(self) -> Layout:
        return Layout(location(self.out_root), location(self.work_root), location(self.quarantine_root))

    def work(self, export: str) -> WorkFiles:
        return WorkFiles(self.layout.work_dir(export, self.day, self.run_slug))

    def staging_dir(self, export: str) -> Path:
        return self.layout.staging_dir(export, self.day, self.run_slug)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunContext:
        return cls(**data)


@dataclass(frozen=True)
class Layout:
    """Where everything of an export lives under the three roots."""

    out_root: Path
    work_root: Path | None = None
    quarantine_root: Path | None = None

    def export_dir(self, export: str) -> Path:
        return self.out_root / export

    def partition(self, export: str, day: str) -> Path:
        return self.out_root / export / f"{DAY_PREFIX}{day}"

    def manifest(self, export: str, day: str) -> Path:
        return self.partition(export, day) / MANIFEST

    def index(self, export: str) -> Path:
        return self.out_root / export / INDEX

    def staging_root(self, export: str) -> Path:
        return self.out_root / STAGING / export

    def staging_dir(self, export: str, day: str, run_slug: str) -> Path:
        return self.staging_root(export) / day / run_slug

    def lock_file(self, export: str, day: str) -> Path:
        return self.out_root / LOCKS / f"{export}-{day}.lock"

    def trash(self, export: str) -> Path:
        return self.out_root / TRASH / export

    def work_export_dir(self, export: str) -> Path:
        if self.work_root is None:
            raise ValueError("no work root configured")
        return self.work_root / export

    def work_dir(self, export: str, day: str, run_slug: str) -> Path:
        return self.work_export_dir(export) / day / run_slug

    def quarantine_export_dir(self, export: str) -> Path | None:
        return None if self.quarantine_root is None else self.quarantine_root / export

    def quarantine_dir(self, export: str, day: str) -> Path | None:
        root = self.quarantine_export_dir(export)
        return None if root is None else root / f"{DAY_PREFIX}{day}"

    def quarantine_trash(self, export: str) -> Path | None:
        return None if self.quarantine_root is None else self.quarantine_root / TRASH / export

    def history_root(self, export: str) -> Path:
        return self.work_export_dir(export) / HISTORY

    def dp_root(self, export: str) -> Path:
        """A DP export's private state: the budget ledger, stored releases, the window's pairs."""
        return self.work_export_dir(export) / DP_STATE

    def dp_window(self, export: str, day: str, key_id: str) -> Path:
        """One night's counted (pseudonym, title) pairs under key `key_id`, for the multi-night
        measures (a window never mixes keys: one person would count as two)."""
        return self.dp_root(export) / "window" / f"{DAY_PREFIX}{day}.key={key_id}.parquet"

    def history_previous(self, export: str, day: str) -> Path:
        return self.history_root(export) / f"{HISTORY_PREVIOUS_PREFIX}{DAY_PREFIX}{day}"

    def history_staging(self, export: str, run_slug: str) -> Path:
        return self.history_root(export) / f"{HISTORY_STAGING_PREFIX}{run_slug}"


@dataclass(frozen=True)
class WorkFiles:
    """The datasets one run's stages hand over, as files in its private work folder.

    Files, not a database on one worker's disk: each task can run on another machine that
    sees the work root. Each is written by one stage and read by later ones.
    """

    folder: Path

    @property
    def stats(self) -> Path:  # every stage's summary (small JSON, no rows)
        return self.folder / "stats.json"

    @property
    def staged(self) -> Path:  # pull: one row per valid play, typed, with subscriber attributes
        return self.folder / "staged.parquet"

    @property
    def catalogue(self) -> Path:  # pull: the night's title catalogue (public), columns the policy reads
        return self.folder / "catalogue.parquet"

    @property
    def persons(self) -> Path:  # pseudonymize: one row per person with its pseudonym
        return self.folder / "persons.parquet"

    def lookup(self, column: str) -> Path:  # generalize: one row per distinct source value
        return self.folder / "lookups" / f"{column}.parquet"

    @property
    def generalized(self) -> Path:  # generalize: one row per valid play, ids into the lookups
        return self.folder / "generalized.parquet"

    @property
    def decision(self) -> Path:  # anonymize: what to publish (classes kept, values gated)
        return self.folder / "decision"

    @property
    def failed_extract(self) -> Path:  # validate: a candidate that failed, kept privately
        return self.folder / "failed_extract"

    @property
    def tmp(self) -> Path:  # engine spill space
        return self.folder / "tmp"


class Views:
    """Names under which the stages' SQL sees the work datasets."""

    STAGED = "staged"
    CATALOGUE = "catalogue"
    PERSONS = "persons"
    GENERALIZED = "generalized"
    FREQ = "freq"
    LABELLED = "labelled"
    CLASSES = "classes"
    EXTRACT = "extract"
    #: One row of derived keys (pseudonymize only): registered with `register_secret`.
    DOMAIN_KEYS = "domain_keys"

    @staticmethod
    def lookup(column: str) -> str:
        return f"lk_{column}"

    @staticmethod
    def gated(key: str) -> str:
        return f"gated_{key}"

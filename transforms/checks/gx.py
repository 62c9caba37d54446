"""Great Expectations inside a task: an ephemeral context, pandas frames, Data Docs to a folder.

Results use the BASIC format with no unexpected values listed, so a report can say that an
email reached a column without ever printing the email. The Data Docs are made to render offline
(data_docs_assets.py): GX's pages would load their scripts, styles and fonts from CDNs.

Importing GX takes 2-3 s of Python. The validate stage calls `import_in_background()` at its
start, so the import runs in a daemon thread while DuckDB writes the extract and runs the
self-test and the frames on the main thread; `gx_context` waits for it and re-raises there
whatever it raised. The thread only imports modules (and sets GX's logger levels): no DuckDB,
no files.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from transforms import GX_LOG_LEVEL
from transforms.checks.data_docs_assets import make_offline
from transforms.errors import ValidationFailed

log = logging.getLogger(__name__)

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}


@dataclass
class ValidationSummary:
    success: bool
    evaluated: int
    failed: list[str] = field(default_factory=list)
    suites: dict[str, bool] = field(default_factory=dict)
    data_docs: str = ""


class _Background:
    """One call in a daemon thread; `result()` waits for it and raises its error in the caller."""

    def __init__(self, name: str, fn: Callable[[], object]) -> None:
        self.name = name
        self._fn = fn
        self._result: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._fn()
        except BaseException as exc:  # handed to the thread that waits for it
            exc.add_note(f"(raised in the background thread {self.name!r}; re-raised where it is waited for)")
            self._error = exc

    def result(self) -> object:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


_import: _Background | None = None
_import_lock = threading.Lock()


def _import_gx() -> float:
    t0 = time.perf_counter()
    import great_expectations
    import great_expectations.expectations  # noqa: F401
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: F401

    # This module sets its own logger to INFO when imported (one line per context); see transforms/__init__.py.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(GX_LOG_LEVEL)
    return time.perf_counter() - t0


def import_in_background() -> None:
    """Start importing Great Expectations in a daemon thread, once per process (a no-op after)."""
    global _import
    with _import_lock:
        if _import is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            _import = _Background("gx-import", _import_gx)


def wait_for_import() -> None:
    """Wait for the background import (starting it first if nobody did); raise its error here."""
    import_in_background()
    t0 = time.perf_counter()
    seconds = _import.result()
    log.info("great expectations: imported in %.2fs in the background, waited %.2fs", seconds, time.perf_counter() - t0)


def gx_context(docs_dir: Path):
    """An ephemeral GX context whose Data Docs site is `docs_dir`. Suites need one to exist."""
    wait_for_import()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="local",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def run_suites(
    context, frames: dict[str, pd.DataFrame], suites: dict, docs_dir: Path, export: str
) -> ValidationSummary:
    import great_expectations as gx

    source = context.data_sources.add_pandas(f"{export}_staged")
    summary = ValidationSummary(success=True, evaluated=0)
    for name, suite in suites.items():
        batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("staged")
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{export}.{name}", data=batch, suite=suite)
        )
        # Each run stores its result in the context; Data Docs are built once, below.
        result = definition.run(batch_parameters={"dataframe": frames[name]}, result_format=RESULT_FORMAT)
        summary.suites[suite.name] = bool(result.success)
        for r in result.results:
            summary.evaluated += 1
            if not r.success:
                cfg = r.expectation_config
                column = cfg.kwargs.get("column")
                label = f"{suite.name}: {cfg.type}" + (f"({column})" if column else "")
                if cfg.meta and cfg.meta.get("check"):
                    label += f" [{cfg.meta['check']}]"
                summary.failed.append(label)
    context.build_data_docs(site_names=["local"])
    make_offline(docs_dir)
    summary.success = not summary.failed
    summary.data_docs = str(docs_dir / "index.html")
    return summary


def validate(
    frames: dict[str, pd.DataFrame], build_suites: Callable[[], dict], docs_dir: Path, export: str
) -> ValidationSummary:
    """Run every suite on its frame; raise ValidationFailed naming what failed.

    `build_suites` is called once the context exists (GX suites need an active context).
    """
    context = gx_context(docs_dir)
    summary = run_suites(context, frames, build_suites(), docs_dir, export)
    log.info("validate: %d expectations, %d failed", summary.evaluated, len(summary.failed))
    if not summary.success:
        raise ValidationFailed(
            f"validation failed, nothing published: {len(summary.failed)} of {summary.evaluated} "
            f"expectations failed: {'; '.join(summary.failed)}; see {summary.data_docs}",
            summary.failed,
        )
    return summary

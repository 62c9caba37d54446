"""Validate: write the candidate partition, then the gate between it and publication.

Reads   work/* (through the export kind), work/staged.parquet (raw identifiers, for the self-test)
Writes  <out-root>/.staging/<export>/<day>/<run>/: the candidate's data files and Data Docs

The kind writes the extract once, in its final form. Then the self-test compares every
published value with the day's raw identifiers and their plain hashes, and Great
Expectations validates small frames computed from the written files (suites in
`expectations/`); GX is imported in a background thread from the stage's start, so its
import overlaps the DuckDB work. Any failure publishes nothing: the candidate moves to the
private work folder (it may hold the very leak that was caught) and the task fails without
retries.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from transforms import storage
from transforms.checks import gx
from transforms.checks.selftest import SelfTestResult, self_test
from transforms.context import DATA_DOCS, REPORTS, Views
from transforms.errors import ValidationFailed
from transforms.exports import kind_of
from transforms.ops.faults import crash_point
from transforms.runtime import StageRun


def run(s: StageRun) -> dict:
    s.needs("pull", "pseudonymize", "generalize", "anonymize")
    # Importing GX (2-3 s of Python) overlaps the extract, the self-test and the frames (DuckDB,
    # on this thread); `gx.validate` waits for it and raises here whatever the import raised.
    gx.import_in_background()
    policy = s.policy
    kind = kind_of(policy.export_kind)
    staging = s.ctx.staging_dir(policy.export)
    storage.rmtree(staging)
    staging.mkdir(parents=True, exist_ok=True)
    files = kind.write_extract(s, staging)
    crash_point("validate.after_staging")
    docs = staging / REPORTS / DATA_DOCS
    # GX writes Data Docs to a local folder; on an object store they are built aside and copied in.
    local_docs = Path(tempfile.mkdtemp(prefix="viewing-export-docs-")) if storage.is_remote(docs) else docs
    try:
        summary, selftest = _check(s, files, local_docs)
    except Exception as exc:
        # Whatever stopped the checks (a failed expectation, the self-test's input, Data Docs),
        # a candidate that was not validated leaves the extract root, where readers look.
        _docs_in_place(local_docs, docs)
        kept = s.work.failed_extract
        storage.rmtree(kept)
        if storage.is_remote(staging) or storage.is_remote(kept):
            storage.copytree(staging, kept)
            storage.rmtree(staging)
        else:
            shutil.move(str(staging), str(kept))
        if isinstance(exc, ValidationFailed):
            raise ValidationFailed(f"{exc} (candidate kept privately in {kept})", exc.failed) from None
        raise
    finally:
        _docs_in_place(local_docs, docs)
    crash_point("validate.after_suites")
    return {
        "success": summary.success,
        "expectations": summary.evaluated,
        "failed": summary.failed,
        "suites": summary.suites,
        "staged_files": len(files),
        "self_test": asdict(selftest),
    }


def _check(s: StageRun, files: list, docs) -> tuple[gx.ValidationSummary, SelfTestResult]:
    """The self-test, then the suites on frames computed from the written files."""
    policy, b = s.policy, s.backend
    kind = kind_of(policy.export_kind)
    b.register_parquet(Views.STAGED, s.work.staged)
    b.register_parquet(Views.EXTRACT, files)
    selftest = self_test(b, policy.pseudonym.person, policy.pseudonym.column)
    if selftest.hits:
        raise ValidationFailed(
            f"self-test failed, nothing published: {selftest.hits} published values equal a raw "
            "identifier or an unkeyed hash of one",
            ["self_test"],
        )
    frames = kind.validation_frames(b, policy, files, s.stats)
    return gx.validate(frames, lambda: kind.suites(policy, s.stats), docs, policy.export), selftest


def _docs_in_place(local_docs: Path, docs) -> None:
    """Data Docs built in a local folder go to the candidate on the store (once)."""
    if local_docs == docs or not local_docs.exists():
        return
    storage.copytree(local_docs, docs, last="index.html")
    shutil.rmtree(local_docs, ignore_errors=True)

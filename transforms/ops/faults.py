"""Named crash points, so tests can kill a run exactly between two steps.

`crash_point("publish.after_exchange")` raises InjectedCrash when the environment variable
EXPORT_CRASH_AT names that point. Nothing happens otherwise; production never sets it.
"""

from __future__ import annotations

import os

ENV = "EXPORT_CRASH_AT"
POINTS = (
    "validate.after_staging",  # staged Parquet written, not validated
    "validate.after_suites",  # validated, not published
    "publish.after_manifest",  # manifest written into staging, not swapped
    "history.after_exchange",  # a night's new history state swapped in, the old one not yet deleted
    "publish.after_state",  # private history state in place, partition not swapped
    "publish.after_exchange",  # new partition in place, old one not yet deleted
    "publish.after_exchange.before_commit",  # object store: new files copied in, manifest not yet
    "history.after_exchange.before_commit",  # object store: new state copied in, meta.json not yet
    "purge.after_first",  # one expired partition deleted, others not yet
    "dp.after_reserve",  # DP budget reserved in the ledger, no noise drawn yet
    "dp.after_staging",  # DP release written and fsynced in staging, not moved into place
    "dp.after_store",  # DP release moved into place, its ledger entry not yet written
)


class InjectedCrash(BaseException):
    """Simulated process death (BaseException: no handler in the pipeline catches it)."""


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        raise InjectedCrash(name)

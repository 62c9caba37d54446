"""One exception family. Every message says what went wrong and how to fix it.

Each class says whether running the same task again, unchanged, could succeed (`retryable`).
The DAG glue reads that flag and nothing else: a retryable error is left to Airflow's
retries, any other fails the task at once. docs/OPERATIONS.md lists the classes.

Messages must never contain raw identifiers, row values or key material: they end up in
Airflow logs, task failure callbacks, alert mails and CI output.
"""

from __future__ import annotations

from typing import ClassVar


class ExportError(Exception):
    """Base class: the run cannot go on. The message is one line a data engineer can act on."""

    #: Could the same task, run again later without any change, succeed?
    retryable: ClassVar[bool] = False


class PolicyError(ExportError):
    """The export policy file is invalid; the message names the bad field."""


class KeyConfigError(ExportError):
    """The pseudonymization key is missing, too short or malformed."""


class RawDataError(ExportError):
    """The raw day's files are there but cannot be used: truncated, corrupt or unreadable, no
    rows, no valid row, an empty catalogue. Reading them again gives the same answer, so the
    task fails at once: upstream must re-deliver the day, then the day is rerun.
    """


class RawDayMissing(RawDataError):
    """The raw day is not there yet: a folder missing or holding no files (events, subscribers
    or catalogue). Upstream may still be delivering it, so a retry can succeed.
    """

    retryable = True


class RawSchemaError(ExportError):
    """The raw day does not follow the contract (a field gone, mixed formats): a person must act."""


class UnclassifiedColumnError(RawSchemaError):
    """A raw column is not classified by the policy; it might carry personal data."""


class PrivacyError(ExportError):
    """A privacy guarantee cannot be met (e.g. suppression over the policy's limit)."""


class CapacityError(ExportError):
    """This worker cannot hold the step's data in memory (the search's frequency table): the
    message gives what it needs and what the worker has. The same task on the same worker
    fails the same way, so it is not retried: run it on a larger worker, or change the policy."""


class ValidationFailed(ExportError):
    """The validation gate failed; nothing was published."""

    def __init__(self, message: str, failed: list[str] | None = None) -> None:
        super().__init__(message)
        self.failed = failed or []


class StorageError(ExportError):
    """A root is on an object store that this engine or export kind cannot use (not retried)."""


class StoreUnreachableError(ExportError):
    """An object store did not answer or refused the request (network, endpoint, credentials):
    retried, as it may be passing; the message says which settings to check."""

    retryable = True


class StageOrderError(ExportError):
    """A stage ran before the stages it needs, or the policy changed between stages of one run."""


class RunInProgressError(ExportError):
    """Another run of the same export and day holds its lock; waiting and retrying helps."""

    retryable = True


class ExportBusyError(ExportError):
    """Another night of the same export holds the export's turn (one night at a time, see
    `transforms.orchestration.Turn`); it ends or fails, then this run goes on."""

    retryable = True


class PublishError(ExportError):
    """The extract could not be moved into place (a filesystem error); the previous state is kept."""

    retryable = True

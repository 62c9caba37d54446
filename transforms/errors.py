"""One exception family. Every message says what went wrong and how to fix it.

Messages must never contain raw identifiers, row values or key material: they end up in
Airflow logs, task failure callbacks and CI output.
"""

from __future__ import annotations


class ExportError(Exception):
    """Base class: the run cannot go on. The message is one line a data engineer can act on."""


class PolicyError(ExportError):
    """The export policy file is invalid; the message names the bad field."""


class KeyConfigError(ExportError):
    """The pseudonymization key is missing, too short or malformed."""


class RawDataError(ExportError):
    """The raw zone for the day cannot be read (missing day, truncated file, schema drift)."""


class UnclassifiedColumnError(RawDataError):
    """A raw column is not classified by the policy; it might carry personal data."""


class PrivacyError(ExportError):
    """A privacy guarantee cannot be met (e.g. suppression over the policy's limit)."""


class ValidationFailed(ExportError):
    """The validation gate failed; nothing was published."""

    def __init__(self, message: str, failed: list[str] | None = None) -> None:
        super().__init__(message)
        self.failed = failed or []


class PublishError(ExportError):
    """The extract could not be moved into place."""

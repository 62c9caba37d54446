"""The raw data contract (../shared/BRIEF.md): what upstream delivers and what each field is.

Produced upstream; this project only reads it:

    <raw-root>/viewing_events/dt=YYYY-MM-DD/*.jsonl.gz   one JSON object per line (or *.parquet)
    <raw-root>/subscribers/dt=YYYY-MM-DD/*.parquet       daily snapshot of all profiles
    <raw-root>/titles/dt=YYYY-MM-DD/*.parquet            daily snapshot of the title catalogue (public)

A person is a profile: (account_id, profile_id). A play may name a title the day's catalogue
lacks (late catalogue updates): it is kept, and published only at a coarse level.
"""

from __future__ import annotations

EVENTS = "viewing_events"
SUBSCRIBERS = "subscribers"
TITLES = "titles"
EVENT_PATTERNS = ("*.jsonl.gz", "*.jsonl", "*.parquet")
SUBSCRIBER_PATTERNS = ("*.parquet",)
TITLE_PATTERNS = ("*.parquet",)

EVENT_COLUMNS = (
    "event_id",
    "account_id",
    "profile_id",
    "profile_name",
    "email",
    "ip_address",
    "device_id",
    "device_model",
    "title_id",
    "title_name",
    "content_type",
    "started_at",
    "watch_seconds",
    "country",
    "city",
    "postal_code",
)
SUBSCRIBER_COLUMNS = ("account_id", "profile_id", "birth_date", "gender", "plan", "signup_date")
#: The catalogue: one row per title. series_id is null for a movie or trailer.
TITLE_COLUMNS = ("title_id", "title_name", "content_type", "series_id", "series_name", "genre", "release_year")
PERSON_COLUMNS = ("account_id", "profile_id")

#: Direct identifiers and what a policy may do with each. Email, names and device ids are
#: never kept in any form; an IP address may only be reduced to a prefix.
DIRECT_IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "email": ("drop",),
    "profile_name": ("drop",),
    "device_id": ("drop",),
    "event_id": ("drop",),
    "ip_address": ("drop", "reduce"),
    "account_id": ("pseudonymize",),
    "profile_id": ("pseudonymize",),
}
#: Raw columns whose values the self-test looks for in every published value (free-text
#: names are not: a first name can be a title).
IDENTIFIER_COLUMNS = ("account_id", "profile_id", "email", "ip_address", "device_id")

CONTENT_TYPES = ("movie", "episode", "trailer")
MAX_WATCH_SECONDS = 86_400  # a single play longer than a day is a client bug
#: started_at: ISO 8601 in UTC, seconds and up to six fraction digits. A value must have exactly
#: this shape (two-digit fields, upper-case T and Z, no spaces) before it is parsed, so every
#: engine accepts the same strings: strptime alone would take "2026-1-5T1:04:11Z" or a leading space.
TIMESTAMP_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z"
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")  # DuckDB's strptime
SPARK_TIMESTAMP_FORMATS = ("yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")  # Spark's

#: Reject reasons, in the order they are tested; the first that applies is recorded.
REJECT_REASONS = (
    "malformed_json",
    "missing_person_id",
    "missing_event_id",
    "bad_started_at",
    "outside_day",
    "bad_watch_seconds",
    "bad_country",
    "bad_content_type",
    "missing_title_id",
    "duplicate_event_id",
    "no_subscriber",
)

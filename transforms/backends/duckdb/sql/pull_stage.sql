-- Grain of `raw_events` (spooled to Parquet, one pass over the raw day): one row per input line,
-- typed, with the first reject reason that applies (NULL when valid) and the person's subscriber
-- attributes. A line's raw text is kept only when it is rejected here; the raw text of the two
-- typed fields is kept for every line (the copies of a duplicated event id are ordered by it and
-- quarantined with it).
WITH source AS (
{% include "_read_events_" ~ format ~ ".sql" %}
),
typed AS (
    SELECT *,
           CASE WHEN regexp_full_match(started_at, $timestamp_shape) THEN try_strptime(started_at, $timestamp_formats) END
               AS started_ts,
           -- DuckDB would round '12.5' to 13; the contract says integer, so demand one.
           CASE WHEN regexp_full_match(watch_seconds, '-?[0-9]{1,12}') THEN CAST(watch_seconds AS BIGINT) END
               AS watch_s
    FROM source
),
checked AS (
    SELECT *,
        CASE
            WHEN NOT _is_object THEN 'malformed_json'
            WHEN coalesce(trim(account_id), '') = '' OR coalesce(trim(profile_id), '') = ''
                THEN 'missing_person_id'
            WHEN coalesce(trim(event_id), '') = '' THEN 'missing_event_id'
            WHEN started_ts IS NULL THEN 'bad_started_at'
            WHEN started_ts < $day_start OR started_ts >= $day_end THEN 'outside_day'
            WHEN watch_s IS NULL OR watch_s < 0 OR watch_s > $max_watch THEN 'bad_watch_seconds'
            WHEN country IS NULL OR NOT regexp_full_match(country, '[A-Z]{2}') THEN 'bad_country'
            WHEN content_type IS NULL OR content_type NOT IN $content_types THEN 'bad_content_type'
            WHEN coalesce(trim(title_id), '') = '' THEN 'missing_title_id'
        END AS reject_reason
    FROM typed
)
SELECT c.* EXCLUDE (_line, profile_name), CASE WHEN c.reject_reason IS NOT NULL THEN c._line END AS _line,
       s.birth_date, s.gender, s.plan, s.profile_id IS NOT NULL AS has_subscriber, coalesce(s.minor, false) AS minor
FROM checked c
LEFT JOIN stg_subscribers s ON s.account_id = c.account_id AND s.profile_id = c.profile_id;

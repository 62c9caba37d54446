-- Spark's counterpart of backends/duckdb/sql/pull_stage.sql (same reasons in the same order;
-- the subscriber join is pull_join's here). Grain of `raw_events` (spooled): one row per input
-- line, typed, with the first reject reason that applies (NULL when valid). Raw text is kept only
-- for rejected lines. Regular expressions are anchored with \z: Java's $ would also match before
-- a final newline.
WITH source AS (
{% include "_read_events_" ~ format ~ ".sql" %}
),
typed AS (
    SELECT *,
           CASE WHEN started_at RLIKE concat('^(?:', $timestamp_shape, ')\\z')
                THEN coalesce({% for f in range(2) %}try_to_timestamp(started_at, element_at($spark_timestamp_formats, {{ f + 1 }})){{ ", " if not loop.last }}{% endfor %}) END
               AS started_ts,
           CASE WHEN watch_seconds RLIKE '^-?[0-9]{1,12}\\z' THEN CAST(watch_seconds AS BIGINT) END AS watch_s
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
            WHEN started_ts < CAST($day_start AS TIMESTAMP_NTZ) OR started_ts >= CAST($day_end AS TIMESTAMP_NTZ)
                THEN 'outside_day'
            WHEN watch_s IS NULL OR watch_s < 0 OR watch_s > $max_watch THEN 'bad_watch_seconds'
            WHEN country IS NULL OR NOT country RLIKE '^[A-Z]{2}\\z' THEN 'bad_country'
            WHEN content_type IS NULL OR NOT array_contains($content_types, content_type) THEN 'bad_content_type'
            WHEN coalesce(trim(title_id), '') = '' THEN 'missing_title_id'
        END AS reject_reason
    FROM typed
)
SELECT _file_no, _is_object, _odd_keys,
{% for c in columns if c != "profile_name" %}
       {{ c | ident }},
{% endfor %}
       started_ts, watch_s, reject_reason, CASE WHEN reject_reason IS NOT NULL THEN _line END AS _line
FROM checked;

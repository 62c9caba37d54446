-- Spark's counterpart of backends/duckdb/sql/pull_join.sql: the same tables, the same copies kept.
CREATE OR REPLACE TEMP TABLE duplicated AS
SELECT event_id FROM raw_events WHERE reject_reason IS NULL GROUP BY event_id HAVING count(*) > 1;

-- Grain of `events_ranked`: one row per valid line, with its subscriber and its copy number.
CREATE OR REPLACE TEMP TABLE events_ranked AS
WITH valid AS (
    SELECT r.*, CASE WHEN d.event_id IS NULL THEN 1
                     ELSE row_number() OVER (PARTITION BY r.event_id
                                             ORDER BY {% for c in order_columns %}r.{{ c | ident }} NULLS LAST, {% endfor %}r._file_no) END
                AS copy_no
    FROM raw_events r LEFT JOIN duplicated d ON d.event_id = r.event_id
    WHERE r.reject_reason IS NULL
),
joined AS (
    SELECT v.*, s.birth_date, s.gender, s.plan, s.profile_id IS NOT NULL AS has_subscriber,
           coalesce(s.minor, false) AS minor
    FROM valid v
    LEFT JOIN stg_subscribers s ON s.account_id = v.account_id AND s.profile_id = v.profile_id
)
SELECT _file_no,
{% for c in order_columns if c not in ("started_at", "watch_seconds") %}
       {{ c | ident }},
{% endfor %}
       event_id, started_ts, watch_s, birth_date, gender, plan, minor,
       CASE WHEN copy_no > 1 THEN 'duplicate_event_id' WHEN NOT has_subscriber THEN 'no_subscriber' END AS reject_reason,
       -- The raw text of the typed fields is kept only for the lines rejected here (for quarantine).
       CASE WHEN copy_no > 1 OR NOT has_subscriber THEN started_at END AS started_at,
       CASE WHEN copy_no > 1 OR NOT has_subscriber THEN watch_seconds END AS watch_seconds
FROM joined;

-- Grain of `rejected`: one row per rejected input line, with its reason (raw data: quarantine only).
CREATE OR REPLACE TEMP TABLE rejected AS
SELECT reject_reason, element_at($files, CAST(_file_no AS INT) + 1) AS _file, _line, event_id, account_id, profile_id,
       started_at, watch_seconds, country, content_type, title_id
FROM raw_events WHERE reject_reason IS NOT NULL
UNION ALL
SELECT reject_reason, element_at($files, CAST(_file_no AS INT) + 1) AS _file, CAST(NULL AS STRING) AS _line, event_id,
       account_id, profile_id, started_at, watch_seconds, country, content_type, title_id
FROM events_ranked WHERE reject_reason IS NOT NULL;

DROP TABLE duplicated;

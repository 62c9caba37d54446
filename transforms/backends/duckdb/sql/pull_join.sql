CREATE OR REPLACE TEMP TABLE duplicated AS
SELECT event_id FROM raw_events WHERE reject_reason IS NULL GROUP BY event_id HAVING count(*) > 1;

-- The valid copies of duplicated event ids (few), numbered: the copy kept is the least by its
-- fields (nulls last), then the earliest file: the same on every engine. Copies equal in every
-- field are interchangeable.
CREATE OR REPLACE TEMP TABLE copies AS
SELECT *, row_number() OVER (PARTITION BY event_id
                             ORDER BY {% for c in order_columns %}{{ c | ident }} NULLS LAST, {% endfor %}_file_no) AS copy_no
FROM raw_events WHERE reject_reason IS NULL AND event_id IN (SELECT event_id FROM duplicated);

-- Grain of `events_ranked` (a view over the spooled rows: each scan reads only its columns): one
-- row per valid line, with its subscriber and why it is rejected here (a later copy, no subscriber).
CREATE OR REPLACE TEMP VIEW events_ranked AS
WITH valid AS (
    -- Ranking every row is costly, and only ids that occur more than once need it.
    SELECT *, 1 AS copy_no FROM raw_events
    WHERE reject_reason IS NULL AND event_id NOT IN (SELECT event_id FROM duplicated)
    UNION ALL BY NAME
    SELECT * FROM copies
),
ranked AS (
    SELECT * EXCLUDE (reject_reason, _line, _is_object, _odd_keys),
           CASE WHEN copy_no > 1 THEN 'duplicate_event_id'
                WHEN NOT has_subscriber THEN 'no_subscriber' END AS reject_reason
    FROM valid
)
-- The raw text of the typed fields is kept only for the lines rejected here (for quarantine).
SELECT * EXCLUDE (started_at, watch_seconds, copy_no, has_subscriber),
       CASE WHEN reject_reason IS NOT NULL THEN started_at END AS started_at,
       CASE WHEN reject_reason IS NOT NULL THEN watch_seconds END AS watch_seconds
FROM ranked;

-- Grain of `rejected`: one row per rejected input line, with its reason (raw data: quarantine only).
CREATE OR REPLACE TEMP TABLE rejected AS
SELECT reject_reason, $files[CAST(_file_no AS BIGINT) + 1] AS _file, _line, event_id, account_id, profile_id, started_at, watch_seconds,
       country, content_type, title_id
FROM raw_events WHERE reject_reason IS NOT NULL
UNION ALL BY NAME
SELECT reject_reason, $files[CAST(_file_no AS BIGINT) + 1] AS _file, NULL AS _line, event_id, account_id, profile_id, started_at,
       watch_seconds, country, content_type, title_id
FROM events_ranked WHERE reject_reason IS NOT NULL;

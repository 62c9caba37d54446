-- Grain of `stg_subscribers`: one row per person of the snapshot (one deterministic copy of
-- duplicates), with the minors rule (policy `minors`, action drop): younger than $minors_under
-- years on the day (0 when the rule does not drop; an unknown birth date is not known to be a minor).
CREATE OR REPLACE TEMP TABLE stg_subscribers AS
SELECT account_id, profile_id, birth_date, gender, plan, copies,
       coalesce(date_sub('year', birth_date, CAST($day AS DATE)) < $minors_under, false) AS minor
FROM (
    -- The copy kept is the least by its values (nulls last): the same on every engine.
    SELECT *, row_number() OVER (PARTITION BY account_id, profile_id
                                 ORDER BY birth_date NULLS LAST, gender NULLS LAST, plan NULLS LAST,
                                          signup_date NULLS LAST) AS copy_no,
           count(*) OVER (PARTITION BY account_id, profile_id) AS copies
    FROM (
        SELECT CAST(account_id AS VARCHAR) AS account_id, CAST(profile_id AS VARCHAR) AS profile_id,
               try_cast(birth_date AS DATE) AS birth_date, CAST(gender AS VARCHAR) AS gender,
               CAST(plan AS VARCHAR) AS plan, try_cast(signup_date AS DATE) AS signup_date
        FROM raw_subscribers
    )
)
WHERE copy_no = 1;

CREATE OR REPLACE TEMP TABLE duplicated AS
SELECT event_id FROM raw_events WHERE reject_reason IS NULL GROUP BY event_id HAVING count(*) > 1;

-- Grain of `events_ranked`: one row per valid line, with its subscriber and its copy number.
CREATE OR REPLACE TEMP TABLE events_ranked AS
WITH valid AS (
    -- Ranking every row is costly, and only ids that occur more than once need it.
    SELECT *, 1 AS copy_no FROM raw_events
    WHERE reject_reason IS NULL AND event_id NOT IN (SELECT event_id FROM duplicated)
    UNION ALL BY NAME
    -- The copy kept is the least by its fields (nulls last), then the earliest file: the same on
    -- every engine. Copies equal in every field are interchangeable.
    SELECT *, row_number() OVER (PARTITION BY event_id
                                 ORDER BY {% for c in order_columns %}{{ c | ident }} NULLS LAST, {% endfor %}_file_no) AS copy_no
    FROM raw_events WHERE reject_reason IS NULL AND event_id IN (SELECT event_id FROM duplicated)
),
joined AS (
    SELECT v.*, s.birth_date, s.gender, s.plan, s.profile_id IS NOT NULL AS has_subscriber,
           coalesce(s.minor, false) AS minor
    FROM valid v
    LEFT JOIN stg_subscribers s USING (account_id, profile_id)
),
ranked AS (
    SELECT * EXCLUDE (reject_reason, _line, _is_object, _odd_keys),
           CASE WHEN copy_no > 1 THEN 'duplicate_event_id'
                WHEN NOT has_subscriber THEN 'no_subscriber' END AS reject_reason
    FROM joined
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

DROP TABLE duplicated;
DROP TABLE raw_events;

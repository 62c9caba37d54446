-- Spark's counterpart of backends/duckdb/sql/pull_counts.sql: one scan of `events_ranked`.
WITH ranked AS (
    SELECT count(*) FILTER (WHERE reject_reason IS NULL) AS valid_rows,
           count(*) FILTER (WHERE reject_reason IS NULL AND minor) AS minor_rows,
           count(DISTINCT account_id, profile_id) FILTER (WHERE reject_reason IS NULL AND minor) AS minor_people,
           count(*) FILTER (WHERE reject_reason IS NULL AND NOT minor AND c.title_id IS NULL)
               AS plays_not_in_catalogue
    FROM events_ranked e LEFT JOIN (SELECT title_id FROM catalogue) c ON c.title_id = e.title_id
)
SELECT ranked.*,
       (SELECT count(*) FROM stg_subscribers) AS subscribers,
       (SELECT count(*) FROM stg_subscribers WHERE copies > 1) AS duplicate_subscribers,
       (SELECT map_from_entries(coalesce(collect_list(struct(reject_reason, n)), array()))
          FROM (SELECT reject_reason, count(*) AS n FROM rejected GROUP BY reject_reason)) AS rejected
FROM ranked;

-- One scan of `events_ranked` (a view) for its counts; the subscribers and rejected tables are small.
WITH ranked AS (
    SELECT count(*) FILTER (WHERE reject_reason IS NULL) AS valid_rows,
           count(*) FILTER (WHERE reject_reason IS NULL AND minor) AS minor_rows,
           count(DISTINCT (account_id, profile_id)) FILTER (WHERE reject_reason IS NULL AND minor) AS minor_people,
           count(*) FILTER (WHERE reject_reason IS NULL AND NOT minor AND c.title_id IS NULL)
               AS plays_not_in_catalogue
    FROM events_ranked e LEFT JOIN (SELECT title_id FROM catalogue) c USING (title_id)
)
SELECT ranked.*,
       (SELECT count(*) FROM stg_subscribers) AS subscribers,
       (SELECT count(*) FROM stg_subscribers WHERE copies > 1) AS duplicate_subscribers,
       (SELECT coalesce(map(list(reject_reason), list(n)), MAP {}) FROM (
            SELECT reject_reason, count(*) AS n FROM rejected GROUP BY 1 ORDER BY 1)) AS rejected
FROM ranked;

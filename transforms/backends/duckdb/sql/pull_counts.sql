SELECT (SELECT count(*) FROM events_ranked WHERE reject_reason IS NULL) AS valid_rows,
       (SELECT count(*) FROM events_ranked WHERE reject_reason IS NULL AND minor) AS minor_rows,
       (SELECT count(DISTINCT (account_id, profile_id)) FROM events_ranked WHERE reject_reason IS NULL AND minor)
           AS minor_people,
       (SELECT count(*) FROM stg_subscribers) AS subscribers,
       (SELECT count(*) FROM stg_subscribers WHERE copies > 1) AS duplicate_subscribers,
       (SELECT coalesce(map(list(reject_reason), list(n)), MAP {}) FROM (
            SELECT reject_reason, count(*) AS n FROM rejected GROUP BY 1 ORDER BY 1)) AS rejected;

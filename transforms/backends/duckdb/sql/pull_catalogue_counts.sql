SELECT (SELECT count(*) FROM catalogue) AS titles,
       (SELECT count(*) FROM catalogue WHERE copies > 1) AS duplicate_titles,
       (SELECT count(*) FROM events_ranked e WHERE reject_reason IS NULL AND NOT minor
            AND NOT EXISTS (SELECT 1 FROM catalogue c WHERE c.title_id = e.title_id)) AS plays_not_in_catalogue;

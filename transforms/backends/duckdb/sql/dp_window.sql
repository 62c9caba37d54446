-- Multi-night measures per catalogue title over the nights in $files (each night's counted
-- pairs): distinct people over the window, counting each person in at most $max_window titles
-- (the ones they watched on most nights; ties by title id), and people who watched the title on
-- every one of the $nights nights (at most the per-night bound of titles each).
WITH pairs AS (
    SELECT person, title_id, count(*) AS nights
    FROM read_parquet($files)
    GROUP BY person, title_id
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY person ORDER BY nights DESC, title_id) AS r FROM pairs
)
SELECT t.title_id,
       count(r.person) FILTER (WHERE r.r <= $max_window) AS window_viewers,
       count(r.person) FILTER (WHERE r.nights = $nights) AS window_every_night
FROM dp_titles t
LEFT JOIN ranked r USING (title_id)
GROUP BY ALL
ORDER BY 1;

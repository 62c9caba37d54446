-- The night's accounting for a DP release: plays in, in catalogue titles, counted within the
-- bounds; people in and counted.
SELECT (SELECT count(*) FROM {{ source | ident }}) AS plays_in,
       (SELECT coalesce(sum(plays_raw), 0) FROM dp_person_titles) AS plays_in_catalogue,
       (SELECT coalesce(sum(plays), 0) FROM dp_person_titles WHERE title_rank <= $max_titles) AS plays_counted,
       (SELECT count(DISTINCT {{ person | ident }}) FROM {{ source | ident }}) AS people_in,
       (SELECT count(DISTINCT person) FROM dp_person_titles) AS people_counted;

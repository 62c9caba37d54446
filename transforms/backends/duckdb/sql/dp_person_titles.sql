-- Grain of `dp_person_titles`: one row per (person, catalogue title) of the night, with the
-- person's one country (where they played most; ties by code), their plays and seconds raw and
-- clipped to the per-title bounds, and the title's rank among the person's titles (most played
-- first; ties by seconds, then title id): only ranks up to the policy's bound are counted.
-- Plays of titles outside the night's catalogue (`dp_titles`, the public keys) are left out.
CREATE OR REPLACE TEMP TABLE dp_person_titles AS
WITH plays AS (
    SELECT g.{{ person | ident }} AS person,
           t.l{{ title_level | int }} AS title_id,
           c.l{{ country_level | int }} AS location,
           g.{{ seconds | ident }} AS seconds
    FROM {{ source | ident }} g
    JOIN {{ ("lk_" ~ title) | ident }} t ON t.id = g.{{ (title ~ "_id") | ident }}
    JOIN {{ ("lk_" ~ country) | ident }} c ON c.id = g.{{ (country ~ "_id") | ident }}
),
home AS (
    SELECT person, location FROM (
        SELECT person, location,
               row_number() OVER (PARTITION BY person ORDER BY count(*) DESC, location) AS r
        FROM plays GROUP BY person, location
    ) WHERE r = 1
),
per_title AS (
    SELECT person, title_id, count(*) AS plays_raw, sum(seconds) AS seconds_raw
    FROM plays
    WHERE title_id IN (SELECT title_id FROM dp_titles)
    GROUP BY person, title_id
)
SELECT p.person, p.title_id, h.location, p.plays_raw, p.seconds_raw,
       least(p.plays_raw, $max_plays) AS plays,
       least(p.seconds_raw, $max_seconds)::BIGINT AS seconds,
       row_number() OVER (PARTITION BY p.person ORDER BY p.plays_raw DESC, p.seconds_raw DESC, p.title_id) AS title_rank
FROM per_title p JOIN home h USING (person);

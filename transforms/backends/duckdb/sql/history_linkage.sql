-- The linking attack, measured: previous night's profiles (person attributes + set of titles) against
-- tonight's rows (`tonight`: the published ones, or the night at its finest levels), for up to
-- $sample people present both nights (by link token).
WITH tonight_items AS (
    SELECT DISTINCT p.link_token, e.{{ person | ident }} AS pseudonym,
           {% for c in person_attributes %}e.{{ c | ident }}, {% endfor %}e.{{ title | ident }} AS title
    FROM {{ tonight | ident }} e JOIN persons p ON p.pseudonym = e.{{ person | ident }}
),
tonight_people AS (
    SELECT pseudonym, any_value(link_token) AS link_token, {{ person_attributes | map("ident") | join(", ") }},
           count(DISTINCT title) AS titles
    FROM tonight_items GROUP BY pseudonym, {{ person_attributes | map("ident") | join(", ") }}
),
before AS (
    SELECT link_token, {{ person_attributes | map("ident") | join(", ") }}, {{ title | ident }} AS title
    FROM previous_items
),
both_nights AS (
    SELECT DISTINCT link_token FROM before WHERE link_token IN (SELECT link_token FROM tonight_items)
),
targets AS (
    SELECT link_token FROM both_nights ORDER BY link_token LIMIT $sample
),
target_profiles AS (
    SELECT b.*, count(*) OVER (PARTITION BY b.link_token, {% for c in person_attributes %}b.{{ c | ident }}{{ ", " if not loop.last }}{% endfor %}) AS titles
    FROM (SELECT DISTINCT * FROM before) b SEMI JOIN targets t USING (link_token)
),
overlap AS (
    SELECT a.link_token AS target, c.pseudonym, any_value(c.link_token) AS candidate_token,
           count(*) AS shared, any_value(a.titles) AS a_titles, any_value(c.titles) AS c_titles
    FROM target_profiles a
    JOIN tonight_items i ON i.title = a.title{% for c in person_attributes %} AND i.{{ c | ident }} = a.{{ c | ident }}{% endfor %}

    JOIN tonight_people c ON c.pseudonym = i.pseudonym{% for c in person_attributes %} AND c.{{ c | ident }} = a.{{ c | ident }}{% endfor %}

    GROUP BY a.link_token, c.pseudonym
),
scored AS (
    SELECT *, shared / (a_titles + c_titles - shared) AS jaccard,
           max(shared / (a_titles + c_titles - shared)) OVER (PARTITION BY target) AS best
    FROM overlap
),
best_matches AS (
    SELECT target, count(*) AS tied, bool_or(candidate_token = target) AS correct
    FROM scored WHERE jaccard = best GROUP BY target
)
SELECT (SELECT count(*) FROM both_nights) AS people_in_both,
       (SELECT count(*) FROM targets) AS tried,
       (SELECT count(*) FROM best_matches WHERE tied = 1 AND correct) AS linked;

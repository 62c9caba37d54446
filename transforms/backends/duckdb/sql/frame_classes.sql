-- Grain: one row per published combination, with its people and rows.
SELECT {{ attributes | map("ident") | join(", ") }}, count(DISTINCT {{ person | ident }}) AS people, count(*) AS rows
FROM extract GROUP BY ALL;

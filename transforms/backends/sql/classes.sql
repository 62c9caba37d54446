-- Grain of `classes`: one row per published combination (class): its people, rows and, with a
-- sensitive column, its distinct values; `small` when it violates a privacy model.
CREATE OR REPLACE TEMP TABLE classes AS
SELECT *, {{ violated }} AS small FROM (
    SELECT {{ attributes | map("ident") | join(", ") }}, count(DISTINCT {{ person | ident }}) AS people, count(*) AS rows,
           {% if sensitive %}count(DISTINCT {{ sensitive | ident }}){% else %}0{% endif %} AS l_values
    FROM labelled GROUP BY ALL
);

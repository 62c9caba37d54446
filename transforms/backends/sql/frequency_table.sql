{% from "_macros.sql" import lookup_joins %}
-- Grain of `freq`: one row per (person, label codes at every level the search may choose),
-- with its row count. Hierarchies nest, so values sharing a label at the lowest allowed level
-- share it, and its cost, at every level above: grouping them first is exact and shrinks the table.
CREATE OR REPLACE TEMP TABLE freq AS
WITH people AS (
    SELECT {{ person | ident }}, row_number() OVER (ORDER BY {{ person | ident }}) AS pid
    FROM (SELECT DISTINCT {{ person | ident }} FROM {{ source | ident }})
),
f AS (
    SELECT {% for a in attributes %}{{ a.column | ident }}_id, {% endfor %}p.pid,
           {% if sensitive %}s.{{ sensitive | ident }}{% else %}NULL{% endif %} AS sens, count(*) AS rows
    FROM {{ source | ident }} s JOIN people p USING ({{ person | ident }})
    GROUP BY ALL
)
SELECT f.pid, f.sens,
{% for a in attributes %}
{% set n = loop.index0 %}
{% for level in range(a.levels[0], a.levels[1] + 1) %}
       q{{ n }}.g{{ level }} AS {{ a.column | ident }}_g{{ level }}, q{{ n }}.c{{ level }} AS {{ a.column | ident }}_c{{ level }},
{% endfor %}
{% endfor %}
       sum(f.rows) AS rows
FROM f
{% for a in attributes %}
JOIN lk_{{ a.column | ident }} q{{ loop.index0 }} ON q{{ loop.index0 }}.id = f.{{ a.column | ident }}_id
{% endfor %}
GROUP BY ALL;

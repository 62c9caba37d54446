-- Grain: one row per (person, label code of each attribute at its lowest allowed level[, sensitive
-- value]), with the rows it stands for: the frequency table the search evaluates in memory
-- (kept as a table, counted, then read in order: `select_all`, ordered).
{% from "_macros.sql" import lookup_joins %}
WITH f AS (
    SELECT {% for a in attributes %}s.{{ a.column | ident }}_id, {% endfor %}p.pid,
           {% if sensitive %}s.{{ sensitive | ident }}{% else %}NULL{% endif %} AS sens, count(*) AS rows
    FROM {{ source | ident }} s JOIN people p USING ({{ person | ident }})
    GROUP BY ALL
)
SELECT f.pid,
{% for a in attributes %}
       q{{ loop.index0 }}.g{{ a.levels[0] | int }} AS a{{ loop.index0 }},
{% endfor %}
       f.sens, CAST(sum(f.rows) AS BIGINT) AS rows  -- BIGINT, not HUGEINT: read as numpy integers, not Decimals
FROM f
{{ lookup_joins(attributes | map(attribute="column") | list, "f") }}
GROUP BY ALL;

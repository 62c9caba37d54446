-- Suppression by group: per published value of each quasi-identifier, the plays in and the plays
-- suppressed (gating aside), so that a report can show whom suppression hits. One GROUPING SETS
-- pass; `attribute` is the index of the quasi-identifier a row is for.
{% from "_macros.sql" import lookup_joins %}
WITH coded AS (
    SELECT g.{{ person | ident }}{% for a in attributes %}, g.{{ a.column | ident }}_id, q{{ loop.index0 }}.g{{ a.lowest | int }} AS a{{ loop.index0 }}{% endfor %}

    FROM generalized g
    {{ lookup_joins(attributes | map(attribute="column") | list, "g") }}
),
dropped AS (
    SELECT DISTINCT {{ person | ident }}{% for a in attributes %}, a{{ loop.index0 }}{% endfor %} FROM suppressed
),
flagged AS (
    SELECT c.*, d.{{ person | ident }} IS NOT NULL AS is_suppressed
    FROM coded c
    LEFT JOIN dropped d ON d.{{ person | ident }} = c.{{ person | ident }}{% for a in attributes %} AND d.a{{ loop.index0 }} = c.a{{ loop.index0 }}{% endfor %}

)
SELECT
{% for a in attributes %}
       p{{ loop.index0 }}.label AS v{{ loop.index0 }},
{% endfor %}
       GROUPING({% for a in attributes %}p{{ loop.index0 }}.label{{ ", " if not loop.last }}{% endfor %}) AS grouping_id,
       count(*) AS plays,
       count(*) FILTER (WHERE is_suppressed) AS suppressed
FROM flagged f
{% for a in attributes %}
JOIN pub_{{ a.column | ident }} p{{ loop.index0 }} ON p{{ loop.index0 }}.id = f.{{ a.column | ident }}_id
{% endfor %}
GROUP BY GROUPING SETS ({% for a in attributes %}(p{{ loop.index0 }}.label){{ ", " if not loop.last }}{% endfor %})
ORDER BY grouping_id, plays DESC;

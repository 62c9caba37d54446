{% from "_macros.sql" import source_value %}
-- Grain: one row per row of the source, with kept columns and, per quasi-identifier, the id
-- of its source value in the lookup table.
SELECT
{% for alias, column, name in keep %}
       {{ alias | ident }}.{{ column | quoted }} AS {{ name | ident }},
{% endfor %}
{% for q in qis %}
       k{{ loop.index0 }}.id AS {{ q.column | ident }}_id{{ "," if not loop.last }}
{% endfor %}
FROM {{ source | ident }} e
{% if person %}
JOIN persons p USING ({{ person | map("ident") | join(", ") }})
{% endif %}
{% for q in qis %}
{% set n = loop.index0 %}
JOIN lk_{{ q.column | ident }} k{{ n }} ON {% for s in q.sources %}k{{ n }}.s{{ loop.index0 }} IS NOT DISTINCT FROM {{ source_value(q.derive, s, "e") }}{{ " AND " if not loop.last }}{% endfor %}

{% endfor %};

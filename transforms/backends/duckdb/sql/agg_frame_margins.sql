-- Grain: one row per (published parent cell, dimension it sums over): the parent (its key, so
-- that two parents with equal measures stay apart) as published,
-- and its children along that dimension in the decision (all of them, and the published ones
-- as published). `all_cells` is every cell of the decision with its labels and whether the
-- extract holds it; `extract` is the written file.
CREATE OR REPLACE TEMP TABLE all_cells AS
SELECT c.grouping, c.suppressed,
{% for d in dims %}
       coalesce(x{{ loop.index0 }}.label, '*') AS {{ d.column | ident }},
{% endfor %}
       c.people
FROM cells c
{% for d in dims %}
LEFT JOIN labels_{{ loop.index0 }} x{{ loop.index0 }} ON x{{ loop.index0 }}.code = c.d{{ loop.index0 }}
{% endfor %};

{% for r in relations %}
{{ "UNION ALL" if not loop.first }}
SELECT $parent{{ loop.index0 }} AS parent, $dimension{{ loop.index0 }} AS dimension, $additive{{ loop.index0 }} AS people_add_up,
       {% for d in dims %}p.{{ d.column | ident }} AS parent_{{ loop.index0 }}, {% endfor %}
       p.{{ people | ident }} AS parent_people, {% if plays %}p.{{ plays | ident }}{% else %}0{% endif %} AS parent_plays,
       {% if hours %}p.{{ hours | ident }}{% else %}0.0{% endif %} AS parent_hours,
       count(*) AS children, count(e.{{ grouping | ident }}) AS children_published,
       coalesce(sum(e.{{ people | ident }}), 0) AS children_people, coalesce(max(e.{{ people | ident }}), 0) AS max_child_people,
       coalesce(sum({% if plays %}e.{{ plays | ident }}{% else %}0{% endif %}), 0) AS children_plays,
       coalesce(sum({% if hours %}e.{{ hours | ident }}{% else %}0.0{% endif %}), 0.0) AS children_hours
FROM extract p
JOIN all_cells a ON a.grouping = $child{{ loop.index0 }}{% for c in r.keep %} AND a.{{ c | ident }} = p.{{ c | ident }}{% endfor %}

LEFT JOIN extract e ON e.{{ grouping | ident }} = a.grouping{% for d in dims %} AND e.{{ d.column | ident }} = a.{{ d.column | ident }}{% endfor %}

WHERE p.{{ grouping | ident }} = $parent{{ loop.index0 }}
GROUP BY ALL
{% endfor %};

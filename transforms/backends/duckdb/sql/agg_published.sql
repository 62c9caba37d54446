-- Grain: one row per published cell. Each dimension's code becomes its label at the policy's
-- level (with companions such as title_name; `labels_<i>` from agg_labels.sql); a dimension
-- the cell's margin lacks is `*`. Suppressed cells are absent. Fixed order (margin, then
-- labels) so reruns are byte-identical.
SELECT
{% for d in dims %}
       coalesce(x{{ loop.index0 }}.label, '*') AS {{ d.column | ident }},
{% for c in d.companions %}
       coalesce(x{{ loop.index0 }}.{{ c | ident }}, '*') AS {{ c | ident }},
{% endfor %}
{% endfor %}
       c.grouping AS {{ grouping | ident }},
       c.people::BIGINT AS {{ people | ident }}
{% if plays %}
       , c.plays::BIGINT AS {{ plays | ident }}
{% endif %}
{% for m in sums %}
       , round(c.{{ m.name | ident }} / 3600.0, 4) AS {{ m.name | ident }}
{% endfor %}
FROM cells c
{% for d in dims %}
LEFT JOIN labels_{{ loop.index0 }} x{{ loop.index0 }} ON x{{ loop.index0 }}.code = c.d{{ loop.index0 }}
{% endfor %}
WHERE NOT c.suppressed
ORDER BY c.margin{% for d in dims %}, {{ d.column | ident }}{% endfor %};

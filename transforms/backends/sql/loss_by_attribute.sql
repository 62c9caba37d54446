{% from "_macros.sql" import lookup_joins %}
-- Mean Loss cost of each attribute over all rows (a suppressed row costs 1).
SELECT {% for a, level in chosen %}avg(CASE WHEN c.small THEN 1.0 ELSE q{{ loop.index0 }}.c{{ level }} END){{ ", " if not loop.last }}{% endfor %}
FROM {{ source | ident }} g
{{ lookup_joins(chosen | map(attribute=0) | list) }}
JOIN classes c ON {% for a, level in chosen %}q{{ loop.index0 }}.l{{ level }} = c.{{ a | ident }}{{ " AND " if not loop.last }}{% endfor %};

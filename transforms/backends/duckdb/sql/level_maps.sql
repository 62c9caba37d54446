-- Per code at the lowest allowed level of one attribute: its code and Loss cost at every level the
-- search may choose (hierarchies nest, so both follow from the lowest code).
SELECT g{{ lowest | int }} AS code
{% for level in levels %}
       , any_value(g{{ level | int }}) AS up{{ level | int }}, any_value(c{{ level | int }}) AS cost{{ level | int }}
{% endfor %}
FROM lk_{{ column | ident }}
GROUP BY g{{ lowest | int }}
ORDER BY code;

-- Per code of the title attribute at its lowest allowed level: how many titles (level-0 values) it
-- covers, and per level whether its label is exactly its own title (a movie at the series level).
SELECT g{{ lowest | int }} AS code, count(DISTINCT l0) AS titles
{% for level in levels %}
       , bool_and(l{{ level | int }} = l0) AND count(DISTINCT l0) = 1 AS self{{ level | int }}
{% endfor %}
FROM lk_{{ column | ident }}
GROUP BY g{{ lowest | int }}
ORDER BY code;

-- Per lookup id: its code at the lowest allowed level, and its label and companions at every level.
SELECT id, g{{ lowest | int }} AS lowest
{% for level in levels %}
       , l{{ level | int }}{% for c in companions %}, {{ c | ident }}__{{ level | int }}{% endfor %}
{% endfor %}
FROM lk_{{ column | ident }}
ORDER BY id;

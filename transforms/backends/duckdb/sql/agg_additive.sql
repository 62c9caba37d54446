-- Per dimension: the largest number of values one person has in the night (1: distinct people
-- add up along that dimension, as for an age band; more: a person can sit in several cells).
SELECT
{% for d in dims %}
       max(n{{ loop.index0 }}) AS d{{ loop.index0 }}{{ "," if not loop.last }}
{% endfor %}
FROM (
    SELECT person{% for d in dims %}, count(DISTINCT d{{ loop.index0 }}) AS n{{ loop.index0 }}{% endfor %}

    FROM person_cells
    GROUP BY person
);

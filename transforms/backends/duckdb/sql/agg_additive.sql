-- Per dimension: 1 when nobody has more than one value of it in the night (distinct people
-- add up along that dimension, as for an age band), 2 when someone has several (a person can
-- sit in several cells). min and max per person, not count(DISTINCT): a grouped DISTINCT
-- aggregate cannot spill in DuckDB, and at 100M events it ran out of its pool.
SELECT
{% for d in dims %}
       max(CASE WHEN lo{{ loop.index0 }} <> hi{{ loop.index0 }} THEN 2 ELSE 1 END) AS d{{ loop.index0 }}{{ "," if not loop.last }}
{% endfor %}
FROM (
    SELECT person{% for d in dims %}, min(d{{ loop.index0 }}) AS lo{{ loop.index0 }}, max(d{{ loop.index0 }}) AS hi{{ loop.index0 }}{% endfor %}

    FROM person_cells
    GROUP BY person
);

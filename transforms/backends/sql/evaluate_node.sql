-- One node of the lattice over `freq`: a class is one combination of label codes at the node's
-- levels. Two aggregations (per person, then per class) beat count(DISTINCT pid) here.
{% set groups %}{% for a, level in chosen %}{{ a | ident }}_g{{ level | int }}{{ ", " if not loop.last }}{% endfor %}{% endset %}
{% set cost %}{% for a, level in chosen %}{{ a | ident }}_c{{ level | int }}{{ " + " if not loop.last }}{% endfor %}{% endset %}
WITH per_person AS (
    SELECT {{ groups }}, pid, sum(rows) AS rows, sum(rows * ({{ cost }})) AS cost
    FROM freq GROUP BY {{ groups }}, pid
),
{% if diversity %}
diversity AS (
    SELECT {{ groups }}, count(DISTINCT sens) AS l_values FROM freq GROUP BY {{ groups }}
),
{% endif %}
cls AS (
    SELECT {{ groups }}, count(*) AS people, sum(rows) AS rows, sum(cost) AS cost
           {%- if diversity %}, any_value(d.l_values) AS l_values{% endif %}

    FROM per_person {% if diversity %}JOIN diversity d USING ({{ groups }}) {% endif %}GROUP BY {{ groups }}
),
judged AS (
    SELECT *, {{ violated }} AS small FROM cls
)
SELECT coalesce(sum(rows) FILTER (WHERE small), 0) AS suppressed_rows,
       coalesce(sum(cost) FILTER (WHERE NOT small), 0) AS kept_cost,
       count(*) FILTER (WHERE NOT small) AS classes,
       sum(rows) AS total_rows,
{% if count_people %}
       (SELECT count(DISTINCT pp.pid) FROM per_person pp JOIN judged c USING ({{ groups }}) WHERE c.small)
           AS suppressed_people,
       (SELECT count(DISTINCT pid) FROM freq) AS people,
{% else %}
       0 AS suppressed_people, 0 AS people,
{% endif %}
       coalesce(sum(rows * rows) FILTER (WHERE NOT small), 0) AS kept_squares,
       sum(rows * rows) AS all_squares
FROM judged;

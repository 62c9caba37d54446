-- Grain: one row per distinct source value, with per level L: its label l<L>, a dense label
-- code g<L>, and its Loss cost c<L> = (m - 1) / (n - 1), m the values sharing the label and n
-- all values. Levels whose costs the hierarchy fixes (`priced`) already have c<L>.
SELECT *,
{% for level in range(height) %}
       CAST(dense_rank() OVER (ORDER BY l{{ level }}) - 1 AS BIGINT) AS g{{ level }}
    {%- if level not in priced %},
       {% if values <= 1 %}CASE WHEN l{{ level }} = '*' THEN 1.0 ELSE 0.0 END{% else %}(count(*) OVER (PARTITION BY l{{ level }}) - 1) / $denominator{% endif %} AS c{{ level }}
    {%- endif %}{{ "," if not loop.last }}
{% endfor %}
FROM {{ source | ident }}
ORDER BY id;

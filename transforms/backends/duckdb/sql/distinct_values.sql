{% from "_macros.sql" import source_value %}
-- Grain: one row per distinct source value of one quasi-identifier (a tuple for several columns).
SELECT DISTINCT
{% for s in sources %}
       {{ source_value(derive, s, "e") }} AS s{{ loop.index0 }}{{ "," if not loop.last }}
{% endfor %}
FROM {{ source | ident }} e;

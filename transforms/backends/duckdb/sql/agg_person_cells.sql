-- Grain of `person_cells`: one row per (person, finest cell): the dimensions' codes at their
-- published level, and the person's contribution to each measure, raw and clipped to the
-- policy's bounds per person and cell (the clipped values are what every cell sums).
{% from "_macros.sql" import lookup_joins %}
CREATE OR REPLACE TEMP TABLE person_cells AS
SELECT g.{{ person | ident }} AS person,
{% for d in dims %}
       k{{ loop.index0 }}.g{{ d.level | int }} AS d{{ loop.index0 }},
{% endfor %}
       count(*) AS plays_raw,
       least(count(*), $max_plays) AS plays
{% for m in sums %}
       , coalesce(sum(g.{{ m.column | ident }}), 0)::BIGINT AS {{ m.name | ident }}_raw
       , least(coalesce(sum(g.{{ m.column | ident }}), 0), $max_seconds)::BIGINT AS {{ m.name | ident }}
{% endfor %}
FROM {{ source | ident }} g
{{ lookup_joins(dims | map(attribute="column") | list, "g", "k") }}
GROUP BY ALL;

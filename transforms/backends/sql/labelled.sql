{% from "_macros.sql" import lookup_joins %}
-- Grain of `labelled`: one row per source row, each attribute at its chosen level.
CREATE OR REPLACE TEMP TABLE labelled AS
SELECT {% for c in carry %}g.{{ c | ident }}, {% endfor %}
{% for a, level in chosen %}
       q{{ loop.index0 }}.l{{ level }} AS {{ a | ident }}{{ "," if not loop.last }}
{% endfor %}
FROM {{ source | ident }} g
{{ lookup_joins(chosen | map(attribute=0) | list) }};

{% from "_macros.sql" import lookup_joins %}
-- Grain: one row per published play: the pseudonym, kept columns and each quasi-identifier at
-- its chosen level; rows of suppressed combinations are absent, gated values replaced.
WITH labelled AS (
    SELECT {% for c in carry %}g.{{ c | ident }}, {% endfor %}
{% for a, level in chosen %}
           q{{ loop.index0 }}.l{{ level | int }} AS {{ a | ident }}{{ "," if not loop.last }}
{% endfor %}
    FROM generalized g
    {{ lookup_joins(chosen | map(attribute=0) | list) | indent(4) }}
),
kept AS (
    SELECT l.* FROM labelled l
    SEMI JOIN kept_classes c ON {% for a, level in chosen %}l.{{ a | ident }} = c.{{ a | ident }}{{ " AND " if not loop.last }}{% endfor %}

)
SELECT
{% for c in columns %}
{% set gate = gates.get(c) %}
{% if gate %}
       CASE WHEN {{ gate.key | ident }} IN (SELECT value FROM gated_{{ gate.key | ident }}) THEN ${{ gate.param }} ELSE {{ c | ident }} END AS {{ c | ident }}{{ "," if not loop.last }}
{% else %}
       {{ c | ident }}{{ "," if not loop.last }}
{% endif %}
{% endfor %}
FROM kept
{% if ordered %}
ORDER BY {{ columns | map("ident") | join(", ") }}
{% endif %};

-- Grain: one row per published play: the pseudonym, kept columns and each quasi-identifier as
-- the decision publishes it (pub_<qi>: label and companions per lookup id). Plays of suppressed
-- frequency rows (suppressed: person and lowest codes) are absent; gated values replaced.
{% from "_macros.sql" import lookup_joins %}
WITH coded AS (
    SELECT g.*{% for a in attributes %}, q{{ loop.index0 }}.g{{ a.lowest | int }} AS a{{ loop.index0 }}{% endfor %}

    FROM generalized g
    {{ lookup_joins(attributes | map(attribute="column") | list, "g") }}
),
kept AS (
    SELECT c.* FROM coded c
    ANTI JOIN suppressed s ON s.{{ person | ident }} = c.{{ person | ident }}{% for a in attributes %} AND s.a{{ loop.index0 }} = c.a{{ loop.index0 }}{% endfor %}

),
labelled AS (
    SELECT {% for c in carry %}k.{{ c | ident }}, {% endfor %}

{% for a in attributes %}
{% set n = loop.index0 %}
           p{{ n }}.label AS {{ a.column | ident }}{% for comp in a.companions %}, p{{ n }}.{{ comp | ident }} AS {{ comp | ident }}{% endfor %}{{ "," if not loop.last }}

{% endfor %}
    FROM kept k
{% for a in attributes %}
    JOIN pub_{{ a.column | ident }} p{{ loop.index0 }} ON p{{ loop.index0 }}.id = k.{{ a.column | ident }}_id
{% endfor %}
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
FROM labelled
{% if ordered %}
ORDER BY {{ columns | map("ident") | join(", ") }}
{% endif %};

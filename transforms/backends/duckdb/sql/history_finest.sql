-- Grain: one row per (person, item) of tonight at the finest levels the policy allows: what a
-- release without protection would show of the history's person attributes and titles, with the
-- private link token. Used only to measure the linking attack before protection; kept in the
-- night's private state so that the next night can measure it too.
{% from "_macros.sql" import lookup_joins %}
SELECT DISTINCT g.{{ person | ident }}, p.link_token,
{% for a in attributes %}
       q{{ loop.index0 }}.l{{ a.level | int }} AS {{ a.column | ident }}{{ "," if not loop.last }}
{% endfor %}
FROM generalized g JOIN persons p ON p.pseudonym = g.{{ person | ident }}
{{ lookup_joins(attributes | map(attribute="column") | list, "g") }}
ORDER BY ALL;

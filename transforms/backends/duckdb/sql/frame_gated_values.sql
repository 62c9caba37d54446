-- Grain: one row per distinct gated value (and content type): its people, and whether it may be
-- shown (at least $k people, or it is the replacement).
SELECT *, (people >= $k{% for key in keys %} OR {{ key | ident }} = $replacement_{{ key | ident }}{% endfor %}) AS gate_ok
FROM (SELECT {% for c in columns %}{{ c | ident }}, {% endfor %}count(DISTINCT {{ person | ident }}) AS people
      FROM extract GROUP BY ALL);

-- Every record and column of the input; quasi-identifiers at the chosen levels, and "*" in every
-- one of them for a suppressed record (as ARX writes them).
SELECT
{% for c in columns %}
{% if c in attributes %}
       CASE WHEN c.small THEN '*' ELSE l.{{ attributes[c] | ident }} END AS {{ c | quoted }}{{ "," if not loop.last }}
{% else %}
       s.{{ c | quoted }}{{ "," if not loop.last }}
{% endif %}
{% endfor %}
FROM src s
JOIN labelled l USING (pid)
JOIN classes c ON {% for c, a in attributes.items() %}l.{{ a | ident }} = c.{{ a | ident }}{{ " AND " if not loop.last }}{% endfor %}

ORDER BY s.pid;

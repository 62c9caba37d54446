-- Every record and column of the input; quasi-identifiers as published (pub_<qi>), and "*" in
-- every one of them for a suppressed record (as ARX writes them).
SELECT
{% for c in columns %}
{% if c in attributes %}
       CASE WHEN x._record IS NOT NULL THEN '*' ELSE p_{{ attributes[c] | ident }}.label END AS {{ c | quoted }}{{ "," if not loop.last }}
{% else %}
       s.{{ c | quoted }}{{ "," if not loop.last }}
{% endif %}
{% endfor %}
FROM src s
JOIN gen_rows g USING (_record)
{% for a in attributes.values() %}
JOIN pub_{{ a | ident }} p_{{ a | ident }} ON p_{{ a | ident }}.id = g.{{ a | ident }}_id
{% endfor %}
LEFT JOIN (SELECT DISTINCT _record FROM suppressed) x USING (_record)
ORDER BY s._record;

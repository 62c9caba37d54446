-- The published (not suppressed) records: each quasi-identifier's label and the sensitive value.
SELECT {% for a in attributes %}p_{{ a | ident }}.label AS {{ a | ident }}, {% endfor %}g.sensitive_value
FROM gen_rows g
{% for a in attributes %}
JOIN pub_{{ a | ident }} p_{{ a | ident }} ON p_{{ a | ident }}.id = g.{{ a | ident }}_id
{% endfor %}
WHERE g._record NOT IN (SELECT _record FROM suppressed);

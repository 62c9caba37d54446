-- Values of `key` seen by fewer than $k people among the published rows (they will be replaced).
SELECT l.{{ key | ident }} AS value, count(*) AS rows
FROM labelled l SEMI JOIN classes c ON {% for a in attributes %}l.{{ a | ident }} = c.{{ a | ident }}{{ " AND " if not loop.last }}{% endfor %} AND NOT c.small
GROUP BY 1 HAVING count(DISTINCT l.{{ person | ident }}) < $k
ORDER BY 1;

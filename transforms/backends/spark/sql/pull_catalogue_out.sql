SELECT title_id{% for c in columns %}, {{ c | ident }}{% endfor %} FROM catalogue ORDER BY title_id;

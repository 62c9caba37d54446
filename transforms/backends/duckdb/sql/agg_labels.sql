-- Per dimension: each code of its policy level, with its label and companions (title_name).
{% for d in dims %}
CREATE OR REPLACE TEMP TABLE labels_{{ loop.index0 }} AS
SELECT g{{ d.level | int }} AS code, min(l{{ d.level | int }}) AS label
{% for c in d.companions %}
       , min({{ c | ident }}__{{ d.level | int }}) AS {{ c | ident }}
{% endfor %}
FROM {{ ("lk_" ~ d.column) | ident }}
GROUP BY ALL;
{% endfor %}

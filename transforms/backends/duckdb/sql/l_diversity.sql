-- Smallest distinct-l and entropy-l of the sensitive column over the published combinations (rows).
{% set key = attributes | map("ident") | join(", ") %}
WITH v AS (SELECT {{ key }}, {{ sensitive | ident }} AS value, count(*) AS n FROM {{ source | ident }} GROUP BY ALL),
c AS (
    SELECT count(*) AS distinct_values,
           exp(-sum((n / total) * ln(n / total))) AS entropy_l
    FROM (SELECT *, sum(n) OVER (PARTITION BY {{ key }}) AS total FROM v)
    GROUP BY {{ key }}
)
SELECT min(distinct_values) AS distinct_l, min(entropy_l) AS entropy_l FROM c;

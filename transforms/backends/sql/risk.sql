-- Prosecutor re-identification risk: 1 / people of a record's class; highest and row average.
SELECT max(1.0 / people) AS highest, sum(rows * 1.0 / people) / sum(rows) AS average
FROM (
{% if before %}
    SELECT count(DISTINCT pid) AS people, sum(rows) AS rows FROM freq GROUP BY {{ groups | map("ident") | join(", ") }}
{% else %}
    SELECT people, rows FROM classes WHERE NOT small
{% endif %}
) WHERE people > 0;

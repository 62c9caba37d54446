-- Values of `key` seen by fewer than $k people among the published rows (they will be replaced).
SELECT {{ key | ident }} AS value, count(*) AS rows
FROM published_ungated
GROUP BY 1 HAVING count(DISTINCT {{ person | ident }}) < $k
ORDER BY 1;

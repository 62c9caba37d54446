-- Kept classes by size in people, in bands $lo<i>..$hi<i> (inclusive); the last band is open.
SELECT {% for i in range(bands) %}count(*) FILTER (WHERE people >= $lo{{ i }}{% if not loop.last %} AND people <= $hi{{ i }}{% endif %}) AS band{{ i }}{{ ", " if not loop.last }}{% endfor %}
FROM classes WHERE NOT small;

-- Row-weighted Loss cost numerators per attribute and allowed level (nothing suppressed), and the rows.
SELECT sum(rows) AS total{% for column, level in keys %}, sum(rows * {{ column | ident }}_c{{ level }}) AS v{{ loop.index0 }}{% endfor %}

FROM freq;

-- Spark's counterpart of backends/duckdb/sql/pull_catalogue.sql (`raw_titles`: register_day).
CREATE OR REPLACE TEMP TABLE catalogue AS
SELECT title_id{% for c in columns %}, {{ c | ident }}{% endfor %}, copies
FROM (
    SELECT *, row_number() OVER (PARTITION BY title_id
                                 ORDER BY {% for c in columns %}{{ c | ident }} NULLS LAST, {% endfor %}true) AS copy_no,
           count(*) OVER (PARTITION BY title_id) AS copies
    FROM (
        SELECT CAST(title_id AS STRING) AS title_id{% for c in columns %}, CAST({{ c | ident }} AS STRING) AS {{ c | ident }}{% endfor %}

        FROM raw_titles
    )
    WHERE title_id IS NOT NULL AND trim(title_id) <> ''
)
WHERE copy_no = 1;

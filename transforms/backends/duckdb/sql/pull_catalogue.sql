-- Grain of `catalogue`: one row per title of the night's snapshot (one deterministic copy of a
-- title listed twice), the columns the policy reads.
CREATE OR REPLACE TEMP TABLE catalogue AS
SELECT title_id,
{% for c in columns %}
       arg_min({{ c | ident }}, hash({{ columns | map("ident") | join(", ") }})) AS {{ c | ident }},
{% endfor %}
       count(*) AS copies
FROM (
    SELECT CAST(title_id AS VARCHAR) AS title_id{% for c in columns %}, CAST({{ c | ident }} AS VARCHAR) AS {{ c | ident }}{% endfor %}

    FROM read_parquet($title_files, union_by_name = true, hive_partitioning = false)
)
WHERE title_id IS NOT NULL AND trim(title_id) <> ''
GROUP BY title_id;

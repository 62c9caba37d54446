-- Fragment (pull_stage.sql). Grain: one row per event of the day's Parquet files, every contract field as text.
SELECT *, NULL::VARCHAR AS _line, true AS _is_object, NULL::VARCHAR[] AS _odd_keys
FROM (
    SELECT file_index AS _file_no,
{% for c in columns %}
           CAST({{ c | ident }} AS VARCHAR) AS {{ c | ident }}{{ "," if not loop.last }}
{% endfor %}
    FROM read_parquet($files, union_by_name = true, hive_partitioning = false)
)

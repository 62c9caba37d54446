-- Fragment (pull_stage.sql). Grain: one row per event of the day's Parquet files (`raw_event_rows`,
-- SparkBackend.register_day), every contract field as text.
SELECT _file_no,
{% for c in columns %}
       CAST({{ c | ident }} AS STRING) AS {{ c | ident }},
{% endfor %}
       CAST(NULL AS STRING) AS _line, true AS _is_object, CAST(NULL AS ARRAY<STRING>) AS _odd_keys
FROM raw_event_rows

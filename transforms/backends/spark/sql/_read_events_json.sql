-- Fragment (pull_stage.sql). Grain: one row per input line of the day's JSON-lines files, every
-- contract field as text; the lines are `raw_lines` (SparkBackend.register_day). Spark's
-- counterpart of backends/duckdb/sql/_read_events_json.sql: a line that is not a JSON object
-- (or an empty one) is malformed; `_odd_keys` only when the keys are not exactly the contract's.
-- Spark's JSON functions read the first value of a line and ignore what follows, where DuckDB
-- refuses the line: so a line counts as JSON only if it also ends with a closing brace or
-- bracket and, wrapped in brackets, is an array of exactly one element.
-- The fields come from one `json_tuple` per line (one parse); it keeps the last of a key given
-- twice where DuckDB keeps the first, so such a line reads each field with `get_json_object`.
SELECT _file_no, line AS _line, coalesce(size(keys), 0) > 0 AS _is_object,
       CASE WHEN size(keys) <> size($contract) OR size(array_except(keys, $contract)) > 0 THEN keys END AS _odd_keys,
{% for c in columns %}
       CASE WHEN keys IS NULL THEN NULL
            WHEN size(array_distinct(keys)) < size(keys) THEN get_json_object(line, '$.{{ c | ident }}')
            ELSE j{{ loop.index0 }} END AS {{ c | ident }}{{ "," if not loop.last }}
{% endfor %}
FROM (
    SELECT _file_no, line,
           CASE WHEN line RLIKE '[\\}\\]]\\s*\\z' AND json_array_length('[' || line || ']') = 1
                THEN json_object_keys(line) END AS keys
    FROM raw_lines
)
LATERAL VIEW json_tuple(line, {% for c in columns %}'{{ c | ident }}'{{ ", " if not loop.last }}{% endfor %}) fields
    AS {% for c in columns %}j{{ loop.index0 }}{{ ", " if not loop.last }}{% endfor %}

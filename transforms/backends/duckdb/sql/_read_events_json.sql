-- Fragment (pull_stage.sql). Grain: one row per input line of the day's JSON-lines files, every contract field as text.
-- Each line is read as text and parsed here (not by read_json) so that a malformed line is
-- kept for quarantine and a field the policy does not know is seen (`_odd_keys`).
WITH lines AS (
    SELECT file_index AS _file_no, line
    FROM read_csv($files, columns = {'line': 'VARCHAR'}, delim = $unit_separator, quote = '',
                  escape = '', header = false, auto_detect = false,
                  hive_partitioning = false)
),
parsed AS (
    SELECT _file_no, line, try(json_extract_string(line, $json_paths)) AS f, try(json_keys(line)) AS keys
    FROM lines
)
SELECT _file_no, line AS _line, coalesce(len(keys), 0) > 0 AS _is_object,
       -- Only rows whose fields are not exactly the contract's keep their key list.
       CASE WHEN len(keys) <> len($contract) OR NOT list_has_all($contract, keys) THEN keys END AS _odd_keys,
{% for c in columns %}
       f[{{ loop.index }}] AS {{ c | ident }}{{ "," if not loop.last }}
{% endfor %}
FROM parsed

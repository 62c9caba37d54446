-- Spark's counterpart of backends/duckdb/sql/pull_fields.sql: the fields seen beyond the
-- contract's, and whether any row is complete.
SELECT (SELECT collect_set(k) FROM (SELECT explode(_odd_keys) AS k FROM raw_events WHERE _odd_keys IS NOT NULL))
           AS odd_keys,
       (SELECT count(*) > 0 FROM raw_events WHERE _is_object AND _odd_keys IS NULL) AS complete;

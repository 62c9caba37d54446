-- The fields seen in the day's JSON lines beyond the contract's, and whether any row is complete.
SELECT (SELECT list(DISTINCT k) FROM (SELECT unnest(_odd_keys) AS k FROM raw_events WHERE _odd_keys IS NOT NULL))
           AS odd_keys,
       (SELECT count(*) > 0 FROM raw_events WHERE _is_object AND _odd_keys IS NULL) AS complete;

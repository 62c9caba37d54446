-- Rejected raw rows, for quarantine, in DuckDB's order (ORDER BY ALL: every column, nulls last).
SELECT * FROM rejected
ORDER BY reject_reason NULLS LAST, _file NULLS LAST, _line NULLS LAST, event_id NULLS LAST, account_id NULLS LAST,
         profile_id NULLS LAST, started_at NULLS LAST, watch_seconds NULLS LAST, country NULLS LAST,
         content_type NULLS LAST, title_id NULLS LAST;

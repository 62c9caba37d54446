-- Rejected raw rows, for quarantine (raw data: the raw zone's access domain only).
SELECT * FROM rejected ORDER BY ALL;

-- Plays counted in suppressed finest cells (they are in no published finest cell).
SELECT coalesce(sum(plays), 0)::BIGINT FROM cells WHERE suppressed AND grouping = $finest;

SELECT * EXCLUDE (copies) FROM catalogue ORDER BY title_id;

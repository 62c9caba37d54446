-- Column names of Parquet files (union of all files).
SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false));

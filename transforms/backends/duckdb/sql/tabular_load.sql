-- Grain of `src`: one row per record of the CSV (each record is one person, `_record`), all text.
CREATE TABLE src AS
SELECT row_number() OVER () AS _record, * FROM read_csv($path, delim = $separator, header = true, all_varchar = true);

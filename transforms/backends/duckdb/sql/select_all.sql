-- Every row of a table; `ordered`: by all its columns in order (e.g. the frequency table: by
-- person first, so each person's rows are adjacent).
SELECT * FROM {{ table | ident }}{% if ordered | default(false) %} ORDER BY ALL{% endif %};

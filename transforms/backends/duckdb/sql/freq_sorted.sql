-- Grain: the frequency table (`freq_codes`, kept as a table) in the order the search reads it:
-- by person first, so each person's rows are adjacent.
SELECT * FROM {{ table | ident }} ORDER BY ALL;

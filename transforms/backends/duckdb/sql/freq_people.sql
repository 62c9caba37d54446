-- Grain of `people`: one row per person of the source, with a dense index (pid) in person order.
CREATE OR REPLACE TEMP TABLE people AS
SELECT {{ person | ident }}, row_number() OVER (ORDER BY {{ person | ident }}) - 1 AS pid
FROM (SELECT DISTINCT {{ person | ident }} FROM {{ source | ident }});

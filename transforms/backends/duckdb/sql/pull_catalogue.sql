-- Grain of `catalogue`: one row per title of the night's snapshot (one deterministic copy of a
-- title listed twice), the columns the policy reads.
CREATE OR REPLACE TEMP TABLE catalogue AS
SELECT title_id{% for c in columns %}, {{ c | ident }}{% endfor %}, copies
FROM (
    -- The copy kept is the least by its values (nulls last): the same on every engine.
    SELECT *, row_number() OVER (PARTITION BY title_id
                                 ORDER BY {% for c in columns %}{{ c | ident }} NULLS LAST, {% endfor %}true) AS copy_no,
           count(*) OVER (PARTITION BY title_id) AS copies
    FROM (
        SELECT CAST(title_id AS VARCHAR) AS title_id{% for c in columns %}, CAST({{ c | ident }} AS VARCHAR) AS {{ c | ident }}{% endfor %}

        FROM raw_titles
    )
    WHERE title_id IS NOT NULL AND trim(title_id) <> ''
)
WHERE copy_no = 1;

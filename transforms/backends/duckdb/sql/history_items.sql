-- Grain: one row per (person, published item) of tonight's extract: the pseudonym, the private link
-- token, the day, and the item (the history's person and play attributes as published).
SELECT DISTINCT e.{{ person | ident }} AS pseudonym, p.link_token, CAST($day AS VARCHAR) AS day,
       {{ columns | map("ident") | join(", ") }}
FROM extract e JOIN persons p ON p.pseudonym = e.{{ person | ident }}
ORDER BY ALL;

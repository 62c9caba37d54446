-- Grain: one row per distinct published pseudonym.
SELECT DISTINCT {{ person | ident }} AS pseudonym FROM extract;

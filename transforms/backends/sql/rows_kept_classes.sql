-- Grain: one row per published combination (classes that meet every privacy model).
SELECT {{ attributes | map("ident") | join(", ") }} FROM classes WHERE NOT small ORDER BY ALL;

-- Grain: one row per distinct published combination of the given columns (a label and its companions).
SELECT DISTINCT {{ columns | map("ident") | join(", ") }} FROM extract;

-- The published records (not suppressed), each quasi-identifier at its level, with the sensitive value.
CREATE OR REPLACE TEMP TABLE published AS
SELECT l.* FROM labelled l SEMI JOIN classes c ON {% for a in attributes %}l.{{ a | ident }} = c.{{ a | ident }}{{ " AND " if not loop.last }}{% endfor %} AND NOT c.small;

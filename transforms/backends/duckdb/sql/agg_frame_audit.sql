-- One row: the decision's own audit. Published cells must all have enough people and no
-- dominant contributor; every primary cell must be suppressed and certified (its reach, the
-- largest value a table consistent with the published cells allows, meets its requirement).
SELECT count(*) AS cells,
       count(*) FILTER (WHERE NOT suppressed) AS published_cells,
       coalesce(min(people) FILTER (WHERE NOT suppressed), $min_viewers) AS min_published_people,
       count(*) FILTER (WHERE NOT suppressed AND reason <> 'published') AS published_with_reason,
       count(*) FILTER (WHERE reason IN ('few_people', 'dominated') AND NOT suppressed) AS primary_published,
       count(*) FILTER (WHERE suppressed AND reason = 'published') AS suppressed_without_reason,
       0
{% for m in needs %}
       + count(*) FILTER (WHERE need_{{ m | ident }} > 0 AND reach_{{ m | ident }} < need_{{ m | ident }} - 1e-9)
{% endfor %}
       AS uncertified
FROM cells;

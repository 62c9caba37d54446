-- What stays visible: plays, seconds and distinct people counted in a published finest cell
-- (`open_cells`: the codes of the published finest cells), against all of them. Grouped by
-- person first, then counted: a grouped aggregate spills under DuckDB's limit, where a
-- count(DISTINCT person) over the night's person cells is not relied on to.
WITH per_person AS (
    SELECT pc.person,
           bool_or(o.d0 IS NOT NULL) AS visible,
           sum(pc.plays_raw)::BIGINT AS plays_raw,
           sum(pc.plays)::BIGINT AS plays_counted,
           coalesce(sum(CASE WHEN o.d0 IS NOT NULL THEN pc.plays END), 0)::BIGINT AS plays_visible
{% for m in sums %}
           , sum(pc.{{ m.name | ident }})::BIGINT AS {{ m.name | ident }}_counted
           , coalesce(sum(CASE WHEN o.d0 IS NOT NULL THEN pc.{{ m.name | ident }} END), 0)::BIGINT AS {{ m.name | ident }}_visible
{% endfor %}
    FROM person_cells pc
    LEFT JOIN open_cells o ON {% for d in dims %}o.d{{ loop.index0 }} = pc.d{{ loop.index0 }}{{ " AND " if not loop.last }}{% endfor %}

    GROUP BY pc.person
)
SELECT count(*) AS people_all,
       count(*) FILTER (WHERE visible) AS people_visible,
       sum(plays_raw)::BIGINT AS plays_raw,
       sum(plays_counted)::BIGINT AS plays_counted,
       coalesce(sum(plays_visible), 0)::BIGINT AS plays_visible
{% for m in sums %}
       , sum({{ m.name | ident }}_counted)::BIGINT AS {{ m.name | ident }}_counted
       , coalesce(sum({{ m.name | ident }}_visible), 0)::BIGINT AS {{ m.name | ident }}_visible
{% endfor %}
FROM per_person;

-- Grain: one row per cell of every published margin: the margin (a GROUPING bitmask: bit set =
-- dimension not grouped), each dimension's code (-1 where the margin lacks it), the distinct
-- people, the clipped sums and, per magnitude, the largest single person's contribution.
-- A person's contribution to a cell of the finest margin is their row of `person_cells` as it
-- is: only the coarser margins are grouped again (the finest grouping set would rebuild a hash
-- table as large as `person_cells` to find the groups it already has).
-- `margins`: the coarser margins; `finest`: whether the finest margin (every dimension) is published.
WITH contributions AS (
{% if margins %}
    SELECT GROUPING({% for d in dims %}d{{ loop.index0 }}{{ ", " if not loop.last }}{% endfor %}) AS gid,
{% for d in dims %}
           d{{ loop.index0 }},
{% endfor %}
           person, sum(plays)::BIGINT AS plays{% for m in sums %}, sum({{ m.name | ident }})::BIGINT AS {{ m.name | ident }}{% endfor %}

    FROM person_cells
    GROUP BY GROUPING SETS (
{% for margin in margins %}
        ({% for i in margin %}d{{ i | int }}, {% endfor %}person){{ "," if not loop.last }}
{% endfor %}
    )
{% endif %}
{% if margins and finest %}
    UNION ALL
{% endif %}
{% if finest %}
    SELECT 0 AS gid,
{% for d in dims %}
           d{{ loop.index0 }},
{% endfor %}
           person, plays::BIGINT AS plays{% for m in sums %}, {{ m.name | ident }}::BIGINT AS {{ m.name | ident }}{% endfor %}

    FROM person_cells
{% endif %}
)
SELECT gid,
{% for d in dims %}
       coalesce(d{{ loop.index0 }}, -1) AS d{{ loop.index0 }},
{% endfor %}
       count(*) AS people, sum(plays)::BIGINT AS plays, max(plays) AS top_plays
{% for m in sums %}
       , sum({{ m.name | ident }})::BIGINT AS {{ m.name | ident }}, max({{ m.name | ident }}) AS top_{{ m.name | ident }}
{% endfor %}
FROM contributions
GROUP BY ALL
ORDER BY gid, {% for d in dims %}d{{ loop.index0 }}{{ ", " if not loop.last }}{% endfor %};

-- The history guarantee re-checked from the written file, apart from the engine: every item (a
-- person's published attributes and one play's published attributes) and, with pairs, every two
-- items of one person, are shared by at least $k people. One row: the smallest supports and how
-- many items and pairs fall below k.
WITH items AS (
    SELECT DISTINCT {{ person | ident }} AS who,
           struct_pack({% for c in attributes %}{{ c | ident }} := {{ c | ident }}{{ ", " if not loop.last }}{% endfor %}) AS item
    FROM extract
),
item_support AS (SELECT item, count(*) AS people FROM items GROUP BY item)
{% if pairs %}
, pair_support AS (
    SELECT a.item AS first, b.item AS second, count(*) AS people
    FROM items a JOIN items b ON a.who = b.who AND a.item < b.item
    GROUP BY 1, 2
)
{% endif %}
SELECT (SELECT coalesce(min(people), 0) FROM item_support) AS min_item_people,
       (SELECT count(*) FROM item_support WHERE people < $k) AS items_below_k,
{% if pairs %}
       (SELECT coalesce(min(people), $k) FROM pair_support) AS min_pair_people,
       (SELECT count(*) FROM pair_support WHERE people < $k) AS pairs_below_k
{% else %}
       $k AS min_pair_people, 0 AS pairs_below_k
{% endif %};

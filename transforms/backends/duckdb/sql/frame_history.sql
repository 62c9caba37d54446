-- The history guarantee re-checked from the written file, apart from the engine: every item (a
-- person's published attributes and one play's published attributes) and, with pairs, every two
-- items of one person, are shared by at least $k people. One row: the smallest supports and how
-- many items and pairs fall below k.
WITH items AS (
    SELECT DISTINCT {{ person | ident }} AS who,
           struct_pack({% for c in attributes %}{{ c | ident }} := {{ c | ident }}{{ ", " if not loop.last }}{% endfor %}) AS item
    FROM extract
),
-- Each distinct item numbered once, so the pairs are joined and grouped on two integers, not
-- two structs of text (at 10M events 4 s instead of 9).
item_support AS (SELECT item, count(*) AS people, row_number() OVER (ORDER BY item) AS id FROM items GROUP BY item)
{% if pairs %}
, held AS (SELECT i.who, s.id FROM items i JOIN item_support s ON i.item = s.item)
, pair_support AS (
    SELECT a.id AS first, b.id AS second, count(*) AS people
    FROM held a JOIN held b ON a.who = b.who AND a.id < b.id
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

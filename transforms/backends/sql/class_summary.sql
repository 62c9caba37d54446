-- Counts over the class table: rows and people in and out, classes kept and their sizes.
SELECT (SELECT count(*) FROM labelled) AS input_rows,
       (SELECT count(DISTINCT {{ person | ident }}) FROM labelled) AS input_people,
       (SELECT coalesce(sum(rows), 0) FROM classes WHERE small) AS suppressed_rows,
       (SELECT count(*) FROM classes WHERE NOT small) AS classes,
       (SELECT coalesce(min(people), 0) FROM classes WHERE NOT small) AS min_class_people,
       (SELECT coalesce(avg(people), 0) FROM classes WHERE NOT small) AS avg_class_people,
       (SELECT coalesce(sum(rows * rows), 0) FROM classes WHERE NOT small) AS kept_squares,
       (SELECT count(DISTINCT l.{{ person | ident }}) FROM labelled l JOIN classes c USING ({{ attributes | map("ident") | join(", ") }}) WHERE c.small)
           AS people_with_suppressed_rows,
       (SELECT count(DISTINCT l.{{ person | ident }}) FROM labelled l JOIN classes c USING ({{ attributes | map("ident") | join(", ") }}) WHERE NOT c.small)
           AS published_people;

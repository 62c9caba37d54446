SELECT (SELECT count(*) FROM catalogue) AS titles,
       (SELECT count(*) FROM catalogue WHERE copies > 1) AS duplicate_titles;

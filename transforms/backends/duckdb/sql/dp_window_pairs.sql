-- Tonight's part of the multi-night state: the (person, title) pairs counted tonight (within
-- the per-night title bound). Pseudonymized, private, kept only as long as the window needs.
SELECT person, title_id FROM dp_person_titles WHERE title_rank <= $max_titles ORDER BY person, title_id;

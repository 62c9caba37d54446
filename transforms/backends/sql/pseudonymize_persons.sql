{% from "_macros.sql" import hmac %}
-- Grain: one row per person of the day: the raw ids and the pseudonym
-- `<key id>:<first 128 bits of HMAC-SHA256(domain key, account_id 0x1F profile_id)>`.
-- HMAC runs once per distinct person; the rows get it by a join later.
SELECT {% for c in person %}{{ c | ident }}, {% endfor %}
       $prefix || substr({{ hmac("encode(" ~ (person | map("ident") | join(" || $separator || ")) ~ ")") }}, 1, $hex_chars) AS pseudonym
FROM (SELECT DISTINCT {{ person | map("ident") | join(", ") }} FROM staged);

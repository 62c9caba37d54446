{% from "_macros.sql" import hmac %}
-- Grain: one row per person of the day: the raw ids and the pseudonym
-- `<key id>:<first 128 bits of HMAC-SHA256(domain key, account_id 0x1F profile_id)>`.
-- HMAC runs once per distinct person; the rows get it by a join later. `link_token` is a second
-- keyed hash (another derived key) that stays the same across nights: private, never published.
{% set message = "encode(" ~ (person | map("ident") | join(" || $separator || ")) ~ ")" %}
SELECT {% for c in person %}{{ c | ident }}, {% endfor %}
       $prefix || substr({{ hmac(message) }}, 1, $hex_chars) AS pseudonym,
       substr(sha256($link_opad || unhex(sha256($link_ipad || {{ message }}))), 1, $hex_chars) AS link_token
FROM (SELECT DISTINCT {{ person | map("ident") | join(", ") }} FROM staged);

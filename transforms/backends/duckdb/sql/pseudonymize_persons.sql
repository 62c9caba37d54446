{% from "_macros.sql" import hmac %}
-- Grain: one row per person of the day: the raw ids and the pseudonym
-- `<key id>:<first 128 bits of HMAC-SHA256(domain key, account_id 0x1F profile_id)>`, the keys
-- read from `domain_keys` (one row, registered as a secret: see pseudonymize.py).
-- HMAC runs once per distinct person; the rows get it by a join later. `link_token` is a second
-- keyed hash (another derived key) that stays the same across nights: private, never published.
{% set message = "encode(" ~ (person | map("ident") | join(" || $separator || ")) ~ ")" %}
SELECT {% for c in person %}{{ c | ident }}, {% endfor %}
       $prefix || substr({{ hmac(message) }}, 1, $hex_chars) AS pseudonym,
       substr({{ hmac(message, "k.link_ipad", "k.link_opad") }}, 1, $hex_chars) AS link_token
FROM (SELECT DISTINCT {{ person | map("ident") | join(", ") }} FROM staged)
CROSS JOIN domain_keys k;

-- Grain: one row per person of the day: the raw ids, the pseudonym and the link token, equal
-- byte for byte to DuckDB's (backends/duckdb/sql/pseudonymize_persons.sql). Spark's own `hmac`
-- (4.3+) under the keys of `domain_keys`, a one-row table registered as a secret: the plan
-- shows its column names, never the key.
{% set message = "encode(" ~ (person | map("ident") | join(" || $separator || ")) ~ ", 'UTF-8')" %}
SELECT /*+ BROADCAST(k) */
       {% for c in person %}d.{{ c | ident }}, {% endfor %}
       $prefix || substr(lower(hex(hmac(k.domain_key, {{ message }}))), 1, $hex_chars) AS pseudonym,
       substr(lower(hex(hmac(k.link_key, {{ message }}))), 1, $hex_chars) AS link_token
FROM (SELECT DISTINCT {{ person | map("ident") | join(", ") }} FROM staged) d
CROSS JOIN domain_keys k;

{% from "_macros.sql" import hmac %}
-- Every raw identifier value of the day (and the person key), distinct.
CREATE OR REPLACE TEMP TABLE raw_identifiers AS
SELECT DISTINCT v FROM (
    SELECT unnest([{{ columns | map("ident") | join(", ") }}, {{ person | map("ident") | join(" || chr(31) || ") }}]) AS v
    FROM staged
) WHERE v IS NOT NULL AND v <> '';

-- The forms a careless pipeline could leak: the value, its unkeyed digests (hex, base64, the
-- 32-hex prefix a pseudonym would show) and its HMAC under an empty key.
CREATE OR REPLACE TEMP TABLE identifier_forms AS
WITH digests AS (
    SELECT v, md5(v) AS h_md5, sha1(v) AS h_sha1, sha256(v) AS h_sha256, {{ hmac("encode(v)") }} AS h_hmac_empty
    FROM raw_identifiers
)
SELECT DISTINCT form FROM (
    SELECT unnest([
        v, h_md5, h_sha1, h_sha256, h_hmac_empty,
        substr(h_sha1, 1, 32), substr(h_sha256, 1, 32), substr(h_hmac_empty, 1, 32),
        to_base64(unhex(h_md5)), to_base64(unhex(h_sha1)), to_base64(unhex(h_sha256))
    ]) AS form FROM digests
);

-- Every distinct value of every published text column, and each pseudonym's digest part (when
-- the extract publishes pseudonyms).
CREATE OR REPLACE TEMP TABLE published_tokens AS
{% for c in text_columns %}
SELECT DISTINCT {{ c | ident }} AS token FROM extract UNION
{% endfor %}
{% if pseudonym %}
SELECT DISTINCT split_part({{ pseudonym | ident }}, ':', 2) AS token FROM extract;
{% else %}
SELECT NULL::VARCHAR AS token WHERE false;
{% endif %}

SELECT (SELECT count(*) FROM raw_identifiers) AS values_tested,
       (SELECT count(*) FROM identifier_forms) AS forms_tested,
       (SELECT count(*) FROM published_tokens) AS published_values,
       (SELECT count(*) FROM published_tokens t JOIN identifier_forms f ON t.token = f.form) AS hits;

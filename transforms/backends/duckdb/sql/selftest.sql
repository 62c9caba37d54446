{% from "_macros.sql" import hmac %}
{# The self-test's second half, after selftest_targets (raw_identifiers, published_tokens,
   digest_targets). `shapes`: the digest shapes that occur among the targets.

   Each value has 11 forms: the value; MD5, SHA-1, SHA-256 and HMAC-SHA256 under an empty key
   in hex; SHA-1, SHA-256 and the HMAC cut to the 32-hex prefix a pseudonym would show; MD5,
   SHA-1 and SHA-256 in base64. Every digest form has one shape: hex32 (MD5, the prefixes),
   hex40 (SHA-1), hex64 (SHA-256, HMAC), b64_24, b64_28, b64_44 (the base64 forms). A form whose
   shape occurs among no target cannot equal one, so it is not computed (nor is a digest no
   computed form uses): skipping it changes no count. #}
{% set need_md5 = "hex32" in shapes or "b64_24" in shapes %}
{% set need_sha1 = "hex32" in shapes or "hex40" in shapes or "b64_28" in shapes %}
{% set need_sha256 = "hex32" in shapes or "hex64" in shapes or "b64_44" in shapes %}
{% set need_hmac = "hex32" in shapes or "hex64" in shapes %}
-- The digest forms that could equal a target, each digest computed once per distinct raw value,
-- probed against the targets with a semi-join (the targets are the hash table; the forms stream
-- through it and are never collected). Only matches are kept.
CREATE OR REPLACE TEMP TABLE matched_forms AS
{% if shapes %}
WITH digests AS (
    SELECT
        {% if need_md5 %}md5(v) AS h_md5,{% endif %}
        {% if need_sha1 %}sha1(v) AS h_sha1,{% endif %}
        {% if need_sha256 %}sha256(v) AS h_sha256,{% endif %}
        {% if need_hmac %}{{ hmac("encode(v)", "$ipad", "$opad") }} AS h_hmac_empty,{% endif %}
        v
    FROM raw_identifiers
)
SELECT DISTINCT f.form FROM (
    SELECT unnest([
        {% if "hex32" in shapes %}h_md5, substr(h_sha1, 1, 32), substr(h_sha256, 1, 32), substr(h_hmac_empty, 1, 32),{% endif %}
        {% if "hex40" in shapes %}h_sha1,{% endif %}
        {% if "hex64" in shapes %}h_sha256, h_hmac_empty,{% endif %}
        {% if "b64_24" in shapes %}to_base64(unhex(h_md5)),{% endif %}
        {% if "b64_28" in shapes %}to_base64(unhex(h_sha1)),{% endif %}
        {% if "b64_44" in shapes %}to_base64(unhex(h_sha256)),{% endif %}
    ]) AS form FROM digests
) f SEMI JOIN digest_targets t ON f.form = t.token;
{% else %}
SELECT NULL::VARCHAR AS form WHERE false;
{% endif %}

-- forms_tested counts distinct forms: 11 per value, and a raw value that equals another value's
-- digest form counts once (two different digests never coincide: that would be a collision of
-- the hash functions themselves). hits counts published values equal to any form: a raw value,
-- or a digest form (every one that equals a target matched above).
SELECT (SELECT count(*) FROM raw_identifiers) AS values_tested,
       11 * (SELECT count(*) FROM raw_identifiers)
           - (SELECT count(*) FROM matched_forms m JOIN digest_targets t ON m.form = t.token WHERE t.raw)
           AS forms_tested,
       (SELECT count(*) FROM published_tokens) AS published_values,
       (SELECT count(*) FROM published_tokens
         WHERE token IN (SELECT v FROM raw_identifiers) OR token IN (SELECT form FROM matched_forms)) AS hits;

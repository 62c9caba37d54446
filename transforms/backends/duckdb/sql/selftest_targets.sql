-- The self-test's first half: what is published, what is raw, and which digest shapes occur.
-- Every raw identifier value of the day (and the person key), distinct (each column's distinct
-- values first: half the work of one DISTINCT over all of them).
CREATE OR REPLACE TEMP TABLE raw_identifiers AS
SELECT DISTINCT v FROM (
    {% for c in columns %}
    SELECT DISTINCT {{ c | ident }} AS v FROM staged UNION ALL
    {% endfor %}
    SELECT {{ person | map("ident") | join(" || chr(31) || ") }} AS v
    FROM (SELECT DISTINCT {{ person | map("ident") | join(", ") }} FROM staged)
) WHERE v IS NOT NULL AND v <> '';

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

-- What a digest form (of any raw value) could equal, by shape: published tokens, and raw values
-- that look like a digest (a raw value equal to another value's digest is one form, not two, in
-- forms_tested). Every digest form has exactly one of these shapes: lower-case hex of 32, 40 or
-- 64 characters, or padded base64 of 16, 20 or 32 bytes. A value of no such shape equals no
-- digest form, so it is not a target.
CREATE OR REPLACE TEMP TABLE digest_targets AS
SELECT token, shape, bool_or(published) AS published, bool_or(raw) AS raw FROM (
    SELECT token, shape, published, raw FROM (
        SELECT token,
               CASE length(token)
                   WHEN 32 THEN CASE WHEN regexp_full_match(token, '[0-9a-f]{32}') THEN 'hex32' END
                   WHEN 40 THEN CASE WHEN regexp_full_match(token, '[0-9a-f]{40}') THEN 'hex40' END
                   WHEN 64 THEN CASE WHEN regexp_full_match(token, '[0-9a-f]{64}') THEN 'hex64' END
                   WHEN 24 THEN CASE WHEN regexp_full_match(token, '[A-Za-z0-9+/]{22}==') THEN 'b64_24' END
                   WHEN 28 THEN CASE WHEN regexp_full_match(token, '[A-Za-z0-9+/]{27}=') THEN 'b64_28' END
                   WHEN 44 THEN CASE WHEN regexp_full_match(token, '[A-Za-z0-9+/]{43}=') THEN 'b64_44' END
               END AS shape,
               published, raw
        FROM (
            SELECT token, true AS published, false AS raw FROM published_tokens
            UNION ALL
            SELECT v, false, true FROM raw_identifiers
        ) WHERE length(token) IN (24, 28, 32, 40, 44, 64)
    ) WHERE shape IS NOT NULL
) GROUP BY token, shape;

SELECT shape, count(*) AS n FROM digest_targets GROUP BY shape ORDER BY shape;

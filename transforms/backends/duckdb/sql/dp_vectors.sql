-- Exact aggregates over the public keys (every catalogue title{% if by_country %}, times every
-- country of the reference{% endif %}), zeros included, from the bounded contributions only.
-- Fixed key order: the noise is drawn in this order and the release is written in it.
SELECT t.title_id,
       {% if by_country %}k.location{% else %}'*'{% endif %} AS location,
       count(p.person) AS viewers,
       coalesce(sum(p.plays), 0)::BIGINT AS plays,
       coalesce(sum(p.seconds), 0)::BIGINT AS seconds
FROM dp_titles t
{% if by_country %}CROSS JOIN dp_countries k{% endif %}
LEFT JOIN dp_person_titles p
    ON p.title_id = t.title_id AND p.title_rank <= $max_titles
    {% if by_country %}AND p.location = k.location{% endif %}
GROUP BY ALL
ORDER BY 1, 2;

{# RFC 2104 HMAC-SHA256 (hex) of a BLOB expression, under the pads bound as $ipad and $opad.
   DuckDB has no HMAC function; the pads are key material and only ever bound parameters. #}
{% macro hmac(message_blob) %}sha256($opad || unhex(sha256($ipad || {{ message_blob }}))){% endmacro %}

{# Join each quasi-identifier's lookup table to a source aliased `g` by its `<qi>_id` column. #}
{% macro lookup_joins(qis, source_alias="g") %}
{% for q in qis %}
JOIN lk_{{ q | ident }} q{{ loop.index0 }} ON q{{ loop.index0 }}.id = {{ source_alias }}.{{ q | ident }}_id
{% endfor %}
{% endmacro %}

{# The value a hierarchy reads from one source column of the row aliased `alias`. #}
{% macro source_value(derive, column, alias) -%}
{% if derive == "age_years" %}date_sub('year', {{ alias }}.{{ column | quoted }}, $day)
{%- elif derive == "hour_of_day" %}hour({{ alias }}.{{ column | quoted }})
{%- else %}{{ alias }}.{{ column | quoted }}{% endif %}
{%- endmacro %}

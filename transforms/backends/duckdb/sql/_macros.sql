{# RFC 2104 HMAC-SHA256 (hex) of a BLOB expression under the pads `ipad` and `opad` (SQL
   expressions: by default the columns of the one-row key table `k`, registered as a secret).
   DuckDB has no HMAC function. Pads of a real key are key material: a registered table's
   columns, never SQL text or a bound parameter. #}
{% macro hmac(message_blob, ipad="k.ipad", opad="k.opad") %}sha256({{ opad }} || unhex(sha256({{ ipad }} || {{ message_blob }}))){% endmacro %}

{# Join each column's lookup table (lk_<column>, aliased <alias>0, <alias>1, ...) to the source
   aliased `source_alias` by its `<column>_id` code. #}
{% macro lookup_joins(columns, source_alias="g", alias="q") %}
{% for c in columns %}
JOIN lk_{{ c | ident }} {{ alias | ident }}{{ loop.index0 }} ON {{ alias | ident }}{{ loop.index0 }}.id = {{ source_alias | ident }}.{{ c | ident }}_id
{% endfor %}
{% endmacro %}

{# The value a hierarchy reads from one source column of the row aliased `alias`. #}
{% macro source_value(derive, column, alias) -%}
{% if derive == "age_years" %}date_sub('year', {{ alias }}.{{ column | quoted }}, $day)
{%- elif derive == "hour_of_day" %}hour({{ alias }}.{{ column | quoted }})
{%- else %}{{ alias }}.{{ column | quoted }}{% endif %}
{%- endmacro %}

{#- Regular expressions differ by warehouse in name, in argument order and in whether they replace every
    match. These two helpers hide that. Patterns given to them must use the syntax common to POSIX ERE,
    RE2 and Java (bracket classes, |, ?, +, *, {m,n}, ^ and $; no backslash, no back-reference), must be
    anchored with ^ and $ when used to match (some warehouses match the whole string, others any part),
    and must hold no single quote. -#}

{% macro _regex_matches(value, pattern) %}
    {{ return(adapter.dispatch('_regex_matches', 'rsync_braze')(value, pattern)) }}
{% endmacro %}

{#- Snowflake and Databricks (and PostgreSQL 15+, which the override below does not need). -#}
{% macro default___regex_matches(value, pattern) -%}
    regexp_like({{ value }}, '{{ pattern }}')
{%- endmacro %}

{#- PostgreSQL has regexp_like only from version 15; the ~ operator works on every version. -#}
{% macro postgres___regex_matches(value, pattern) -%}
    ({{ value }} ~ '{{ pattern }}')
{%- endmacro %}

{#- DuckDB names it regexp_matches. -#}
{% macro duckdb___regex_matches(value, pattern) -%}
    regexp_matches({{ value }}, '{{ pattern }}')
{%- endmacro %}

{#- BigQuery names it regexp_contains. -#}
{% macro bigquery___regex_matches(value, pattern) -%}
    regexp_contains({{ value }}, '{{ pattern }}')
{%- endmacro %}


{% macro _regex_replace_all(value, pattern, replacement) %}
    {{ return(adapter.dispatch('_regex_replace_all', 'rsync_braze')(value, pattern, replacement)) }}
{% endmacro %}

{#- Snowflake, BigQuery and Databricks replace every match by default. -#}
{% macro default___regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{#- PostgreSQL replaces only the first match unless given the 'g' flag. -#}
{% macro postgres___regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- DuckDB too. -#}
{% macro duckdb___regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

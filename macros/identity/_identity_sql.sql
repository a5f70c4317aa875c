{#- Small portable SQL pieces of identity resolution, dispatched per warehouse. -#}

{#- A signed 64-bit integer from the first 16 hex digits of md5(expression): the same value on every
    warehouse, spread uniformly, so labels carry no ingestion order (sequential labels make the
    connected-components loop linear in chain length). -#}
{% macro identity_hash_bigint(expression) %}
    {{ return(adapter.dispatch('identity_hash_bigint', 'rsync_braze')(expression)) }}
{% endmacro %}

{% macro default__identity_hash_bigint(expression) -%}
    cast(('x' || substr(md5({{ expression }}), 1, 16)) as bit(64))::bigint
{%- endmacro %}

{#- DuckDB reads '0x…' as an unsigned integer; fold it into the signed range the way PostgreSQL's bit(64)
    cast does, so both give the same label. -#}
{% macro duckdb__identity_hash_bigint(expression) -%}
    cast(
        cast(cast(('0x' || substr(md5({{ expression }}), 1, 16)) as ubigint) as hugeint)
        - case when substr(md5({{ expression }}), 1, 1) >= '8' then cast('18446744073709551616' as hugeint) else 0 end
    as bigint)
{%- endmacro %}


{#- Whether value matches a regular expression held in a column (the blocklist seed). -#}
{% macro identity_regex_matches(value, pattern) %}
    {{ return(adapter.dispatch('identity_regex_matches', 'rsync_braze')(value, pattern)) }}
{% endmacro %}

{% macro default__identity_regex_matches(value, pattern) -%}
    regexp_like({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro postgres__identity_regex_matches(value, pattern) -%}
    ({{ value }} ~ {{ pattern }})
{%- endmacro %}

{% macro duckdb__identity_regex_matches(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}


{#- Refresh planner statistics of a work table: PostgreSQL plans the next iteration's joins from them
    (without, it guesses row counts and may pick nested loops). Other warehouses need nothing. -#}
{% macro identity_analyze(relation) %}
    {{ return(adapter.dispatch('identity_analyze', 'rsync_braze')(relation)) }}
{% endmacro %}

{% macro default__identity_analyze(relation) %}{% endmacro %}

{% macro postgres__identity_analyze(relation) %}
    {%- do run_query('analyze ' ~ relation) -%}
{% endmacro %}


{#- create table as, without logging where the warehouse allows it (work tables are rebuilt each run). -#}
{% macro identity_create_table(relation, sql) %}
    {{ return(adapter.dispatch('identity_create_table', 'rsync_braze')(relation, sql)) }}
{% endmacro %}

{% macro default__identity_create_table(relation, sql) %}
    {%- do run_query('drop table if exists ' ~ relation) -%}
    {%- do run_query('create table ' ~ relation ~ ' as ' ~ sql) -%}
    {%- do rsync_braze.identity_analyze(relation) -%}
{% endmacro %}

{#- Work tables are thrown away after the run: no write-ahead log for them. -#}
{% macro postgres__identity_create_table(relation, sql) %}
    {%- do run_query('drop table if exists ' ~ relation) -%}
    {%- do run_query('create unlogged table ' ~ relation ~ ' as ' ~ sql) -%}
    {%- do rsync_braze.identity_analyze(relation) -%}
{% endmacro %}


{#- One scalar from a query (a count). -#}
{% macro _identity_scalar(sql) %}
    {%- set result = run_query(sql) -%}
    {{ return(result.columns[0].values()[0]) }}
{% endmacro %}
